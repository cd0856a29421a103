from . import backbones, decoders, heads, layers, losses, segmentors, weighting

__all__ = [
    "backbones",
    "decoders",
    "heads",
    "layers",
    "losses",
    "segmentors",
    "weighting",
]
