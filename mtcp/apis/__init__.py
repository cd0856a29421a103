from .inference import (
    InferencePipeline,
    build_inference_pipeline,
    check_tta_config,
    draw_panel,
    find_images,
    inference_model,
    init_model,
    read_image,
    reduces_zero_label,
    save_predictions,
    show_result,
)
from .inferencer import MultiTaskInferencer

__all__ = [
    "InferencePipeline",
    "MultiTaskInferencer",
    "build_inference_pipeline",
    "check_tta_config",
    "draw_panel",
    "find_images",
    "inference_model",
    "init_model",
    "read_image",
    "reduces_zero_label",
    "save_predictions",
    "show_result",
]
