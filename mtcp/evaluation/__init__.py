from .metrics import (
    BaseMeter,
    DepthMeter,
    MultiTaskMetric,
    NormalsMeter,
    SaliencyMeter,
    SegmentationMeter,
    delta_m,
)

__all__ = [
    "BaseMeter",
    "DepthMeter",
    "MultiTaskMetric",
    "NormalsMeter",
    "SaliencyMeter",
    "SegmentationMeter",
    "delta_m",
]
