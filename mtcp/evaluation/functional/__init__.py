from .boundary import (
    VARIANTS,
    image_counts,
    protocol_thresholds,
    quantize_probabilities,
    resolve_thresholds,
    summarize,
)
from .boundary_matching import BSDSMatcher, ExactMatcher
from .boundary_morphology import seg2bmap, thin
from .edge_nms import edge_nms

__all__ = [
    "BSDSMatcher",
    "ExactMatcher",
    "VARIANTS",
    "edge_nms",
    "image_counts",
    "protocol_thresholds",
    "quantize_probabilities",
    "resolve_thresholds",
    "seg2bmap",
    "summarize",
    "thin",
]
