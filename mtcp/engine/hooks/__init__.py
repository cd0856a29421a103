from .atomic_checkpoint_hook import AtomicCheckpointHook
from .iter_seed_hook import IterSeedHook
from .task_weighting_hook import TaskWeightingHook
from .visualization_hook import MultiTaskVisualizationHook

__all__ = [
    "AtomicCheckpointHook",
    "IterSeedHook",
    "TaskWeightingHook",
    "MultiTaskVisualizationHook",
]
