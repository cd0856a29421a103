from .formatting import PackMultiTaskInputs
from .geometric import (
    MultiTaskPad,
    MultiTaskRandomCrop,
    MultiTaskRandomFlip,
    MultiTaskRandomResize,
    MultiTaskResize,
)
from .loading import LoadMultiTaskAnnotations

__all__ = [
    "LoadMultiTaskAnnotations",
    "MultiTaskResize",
    "MultiTaskRandomResize",
    "MultiTaskRandomCrop",
    "MultiTaskRandomFlip",
    "MultiTaskPad",
    "PackMultiTaskInputs",
]
