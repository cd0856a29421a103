from .dense_head import DensePredictionHead
from .task_head import (
    BaseTaskHead,
    BinaryMapHead,
    ClassMapHead,
    DepthHead,
    NormalsHead,
    task_head_type,
)

__all__ = [
    "BaseTaskHead",
    "BinaryMapHead",
    "ClassMapHead",
    "DensePredictionHead",
    "DepthHead",
    "NormalsHead",
    "task_head_type",
]
