from .inference import (
    build_inference_pipeline,
    check_tta_config,
    find_images,
    inference_model,
    init_model,
    read_image,
    reduces_zero_label,
    show_result,
)

__all__ = [
    "build_inference_pipeline",
    "check_tta_config",
    "find_images",
    "inference_model",
    "init_model",
    "read_image",
    "reduces_zero_label",
    "show_result",
]
