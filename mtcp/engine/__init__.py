from . import hooks
from .loops import ResumableEpochBasedTrainLoop

__all__ = ["hooks", "ResumableEpochBasedTrainLoop"]
