from .cbam import CBAM
from .cfm import CoherenceFusionModule
from .srm import SpatialRefinementModule

__all__ = ["CBAM", "CoherenceFusionModule", "SpatialRefinementModule"]
