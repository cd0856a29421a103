from .base_weighting import BaseWeighting
from .dwa import DWA
from .fixed_weights import FixedWeights
from .loss_terms import TaskLosses
from .lps import LPS
from .uncertainty_weighting import UncertaintyWeighting

__all__ = [
    "BaseWeighting",
    "DWA",
    "FixedWeights",
    "LPS",
    "TaskLosses",
    "UncertaintyWeighting",
]
