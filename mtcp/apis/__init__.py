from .inference import (
    build_inference_pipeline,
    find_images,
    inference_model,
    init_model,
    read_image,
    reduces_zero_label,
    show_result,
)

__all__ = [
    "build_inference_pipeline",
    "find_images",
    "inference_model",
    "init_model",
    "read_image",
    "reduces_zero_label",
    "show_result",
]
