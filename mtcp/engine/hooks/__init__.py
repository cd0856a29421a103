from .task_weighting_hook import TaskWeightingHook
from .visualization_hook import MultiTaskVisualizationHook

__all__ = ["TaskWeightingHook", "MultiTaskVisualizationHook"]
