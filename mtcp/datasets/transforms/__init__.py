from .formatting import PackMultiTaskInputs
from .geometric import (
    KeepLabelsAtOriginal,
    MultiTaskPad,
    MultiTaskRandomCrop,
    MultiTaskRandomFlip,
    MultiTaskRandomResize,
    MultiTaskResize,
)
from .loading import LoadMultiTaskAnnotations

__all__ = [
    "KeepLabelsAtOriginal",
    "LoadMultiTaskAnnotations",
    "MultiTaskResize",
    "MultiTaskRandomResize",
    "MultiTaskRandomCrop",
    "MultiTaskRandomFlip",
    "MultiTaskPad",
    "PackMultiTaskInputs",
]
