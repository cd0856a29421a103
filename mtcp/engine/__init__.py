from . import hooks
from .log_processor import MultiTaskLogProcessor
from .loops import ResumableEpochBasedTrainLoop
from .optim_wrappers import CPUAutocastOptimWrapper, cpu_has_native_bf16

__all__ = [
    "hooks",
    "CPUAutocastOptimWrapper",
    "cpu_has_native_bf16",
    "MultiTaskLogProcessor",
    "ResumableEpochBasedTrainLoop",
]
