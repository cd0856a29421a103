"""The Swin / Mask2Former configs of :class:`SharedMask2Former`'s presets,
read from the config mmseg ships instead of copied here."""

import copy
import os.path as osp
from functools import lru_cache
from typing import Tuple

import mmseg
from mmengine.config import Config

MASK2FORMER_SWIN_S_ADE20K_URL = (
    "https://download.openmmlab.com/mmsegmentation/v0.5/mask2former/"
    "mask2former_swin-s_8xb2-160k_ade20k-512x512/"
    "mask2former_swin-s_8xb2-160k_ade20k-512x512_20221204_143905-e715144e.pth"
)
# mmseg's config of that checkpoint, the source of the 'swin-s' preset.
MMSEG_SWIN_S_CONFIG = "mask2former/mask2former_swin-s_8xb2-160k_ade20k-512x512.py"

# The 'tiny' preset (tests and the CPU demo): the 'swin-s' architecture with
# smaller sizes. C = 32: GroupNorm(32) in the pixel decoder needs C to be a
# multiple of 32.
TINY_SIZES = dict(
    embed_dims=16,
    depths=[1, 1, 1, 1],
    swin_heads=[1, 2, 2, 4],
    channels=32,
    num_queries=8,
    num_classes=4,
    encoder_layers=1,
    decoder_layers=2,
    num_heads=2,
    ffn_channels=64,
)
ARCHS = ("swin-s", "tiny")


def mmseg_config_path(relative: str) -> str:
    """Path of a config shipped with mmseg, e.g. ``'mask2former/x.py'``.

    An installed mmseg ships its configs in ``<package>/.mim/configs``; a
    source checkout has them in ``configs/`` next to the package.

    Raises:
        FileNotFoundError: neither place holds the config.
    """
    package = osp.dirname(mmseg.__file__)
    candidates = [
        osp.join(package, ".mim", "configs", relative),
        osp.join(osp.dirname(package), "configs", relative),
    ]
    for path in candidates:
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f"mmseg's config {relative} is in neither {candidates[0]} (an installed "
        f"mmseg {mmseg.__version__}) nor {candidates[1]} (a source checkout): "
        "reinstall mmsegmentation with its configs (pip install "
        "mmsegmentation==1.2.2)"
    )


@lru_cache(maxsize=None)
def _swin_s_configs() -> Tuple[dict, dict]:
    cfg = Config.fromfile(mmseg_config_path(MMSEG_SWIN_S_CONFIG)).model
    # The ImageNet init_cfg of the Swin backbone is left out: the whole
    # Mask2Former checkpoint (MASK2FORMER_SWIN_S_ADE20K_URL) supersedes it.
    backbone = dict(cfg.backbone.to_dict(), init_cfg=None)
    return backbone, cfg.decode_head.to_dict()


def _tiny_configs(backbone: dict, head: dict) -> Tuple[dict, dict]:
    sizes = TINY_SIZES
    channels, heads, ffn = sizes["channels"], sizes["num_heads"], sizes["ffn_channels"]
    backbone = merge_cfg(
        backbone,
        dict(
            embed_dims=sizes["embed_dims"],
            depths=sizes["depths"],
            num_heads=sizes["swin_heads"],
            drop_path_rate=0.0,
        ),
    )
    attn = dict(embed_dims=channels, num_heads=heads)
    ffn_cfg = dict(embed_dims=channels, feedforward_channels=ffn)
    decoder_layer = dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn_cfg)
    num_classes = sizes["num_classes"]
    head = merge_cfg(
        head,
        dict(
            in_channels=[sizes["embed_dims"] * 2**i for i in range(4)],
            feat_channels=channels,
            out_channels=channels,
            num_classes=num_classes,
            num_queries=sizes["num_queries"],
            pixel_decoder=dict(
                encoder=dict(
                    num_layers=sizes["encoder_layers"],
                    layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=ffn_cfg),
                ),
                positional_encoding=dict(num_feats=channels // 2),
            ),
            positional_encoding=dict(num_feats=channels // 2),
            transformer_decoder=dict(
                num_layers=sizes["decoder_layers"], layer_cfg=decoder_layer
            ),
            loss_cls=dict(class_weight=[1.0] * num_classes + [0.1]),
        ),
    )
    return backbone, head


def arch_configs(arch: str) -> Tuple[dict, dict]:
    """The (SwinTransformer, Mask2FormerHead) configs of an ``arch`` preset.

    ``'swin-s'`` is read from mmseg's
    ``mask2former_swin-s_8xb2-160k_ade20k-512x512.py`` (C = 256); ``'tiny'``
    is that architecture at the sizes of :data:`TINY_SIZES` (C = 32).

    Raises:
        ValueError: an unknown ``arch``.
    """
    if arch not in ARCHS:
        raise ValueError(
            f"SharedMask2Former: arch must be one of {sorted(ARCHS)} or None, "
            f"got {arch!r}"
        )
    configs = _swin_s_configs()
    if arch == "tiny":
        configs = _tiny_configs(*configs)
    # A copy: a caller may edit it.
    return copy.deepcopy(configs)


def merge_cfg(base: dict, override: dict) -> dict:
    """``base`` with ``override`` merged in, nested dicts key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_cfg(merged[key], value)
        else:
            merged[key] = value
    return merged
