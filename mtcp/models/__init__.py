from . import (
    backbones,
    decoders,
    heads,
    layers,
    losses,  # noqa: F401
    segmentors,
    weighting,
)
