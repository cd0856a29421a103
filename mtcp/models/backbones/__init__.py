from .mask2former_configs import (
    ARCHS,
    MASK2FORMER_SWIN_S_ADE20K_URL,
    TINY_SIZES,
    arch_configs,
    mmseg_config_path,
)
from .shared_mask2former import SharedMask2Former

__all__ = [
    "ARCHS",
    "MASK2FORMER_SWIN_S_ADE20K_URL",
    "TINY_SIZES",
    "SharedMask2Former",
    "arch_configs",
    "mmseg_config_path",
]
