from .shared_mask2former import (
    ARCHS,
    MASK2FORMER_HEAD_SWIN_S,
    MASK2FORMER_SWIN_S_ADE20K_URL,
    SWIN_S,
    TINY_MASK2FORMER_HEAD,
    TINY_SWIN,
    SharedMask2Former,
)

__all__ = [
    "ARCHS",
    "MASK2FORMER_HEAD_SWIN_S",
    "MASK2FORMER_SWIN_S_ADE20K_URL",
    "SWIN_S",
    "TINY_MASK2FORMER_HEAD",
    "TINY_SWIN",
    "SharedMask2Former",
]
