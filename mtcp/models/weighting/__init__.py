from .base_weighting import BaseWeighting, TaskLosses
from .dwa import DWA
from .fixed_weights import FixedWeights
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
