from .metrics import (
    BaseMeter,
    BoundaryMeter,
    DepthMeter,
    MultiTaskMetric,
    NormalsMeter,
    SaliencyMeter,
    SegmentationMeter,
    delta_m,
)

__all__ = [
    "BaseMeter",
    "BoundaryMeter",
    "DepthMeter",
    "MultiTaskMetric",
    "NormalsMeter",
    "SaliencyMeter",
    "SegmentationMeter",
    "delta_m",
]
