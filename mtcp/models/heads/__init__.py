from .dense_head import DensePredictionHead
from .task_head import TaskHead

__all__ = ["DensePredictionHead", "TaskHead"]
