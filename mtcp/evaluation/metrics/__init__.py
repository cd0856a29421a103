from .base_meter import BaseMeter
from .boundary_meter import BoundaryMeter
from .delta_m import delta_m, delta_m_key
from .depth_meter import DepthMeter
from .multitask_metric import MultiTaskMetric
from .normals_meter import NormalsMeter
from .saliency_meter import SaliencyMeter
from .segmentation_meter import SegmentationMeter

__all__ = [
    "BaseMeter",
    "BoundaryMeter",
    "delta_m",
    "delta_m_key",
    "DepthMeter",
    "MultiTaskMetric",
    "NormalsMeter",
    "SaliencyMeter",
    "SegmentationMeter",
]
