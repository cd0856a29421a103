from . import hooks
from .log_processor import MultiTaskLogProcessor
from .loops import ResumableEpochBasedTrainLoop

__all__ = ["hooks", "MultiTaskLogProcessor", "ResumableEpochBasedTrainLoop"]
