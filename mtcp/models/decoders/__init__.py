from .pyramid_fusion import PyramidFusion
from .task_decoder import HierarchicalTaskDecoder

__all__ = ["HierarchicalTaskDecoder", "PyramidFusion"]
