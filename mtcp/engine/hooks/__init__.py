from .atomic_checkpoint_hook import AtomicCheckpointHook
from .iter_seed_hook import IterSeedHook
from .label_check_hook import LabelCheckHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .preemption_hook import EXIT_PREEMPTED, PreemptionHook, TrainingInterrupted
from .task_weighting_hook import TaskWeightingHook
from .visualization_hook import MultiTaskVisualizationHook

__all__ = [
    "AtomicCheckpointHook",
    "EXIT_PREEMPTED",
    "IterSeedHook",
    "LabelCheckHook",
    "NonFiniteLossError",
    "NonFiniteLossHook",
    "PreemptionHook",
    "TaskWeightingHook",
    "TrainingInterrupted",
    "MultiTaskVisualizationHook",
]
