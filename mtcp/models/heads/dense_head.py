"""Per-task dense prediction head."""

from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptMultiConfig

from ..utils import checkpoint


@MODELS.register_module()
class DensePredictionHead(BaseModule):
    """Conv3x3-BN-ReLU-Conv1x1 prediction head.

    The head keeps the input's resolution; the model upsamples its output to
    the label (or image) size with bilinear interpolation.

    Args:
        in_channels (int): Channels of the input map.
        out_channels (int): Predicted channels (classes, 1 for depth,
            saliency and edge, 3 for normals).
        channels (int, optional): Hidden channels; ``in_channels`` when None.
        norm_cfg (dict): Normalisation layer config. Default: ``dict(type='BN')``.
        act_cfg (dict): Activation config. Default: ``dict(type='ReLU')``.
        bias_init (float): Initial bias of the prediction conv. A regression
            head starting at the typical target (e.g. a room's depth in
            metres) instead of 0 does not spend its first epochs climbing
            there under an L1 loss. Default: 0.0.
        with_cp (bool): Activation checkpointing: the backward recomputes
            the head's forward instead of keeping its activations.
            Default: False.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: Optional[int] = None,
        norm_cfg: ConfigType = dict(type="BN"),
        act_cfg: ConfigType = dict(type="ReLU"),
        bias_init: float = 0.0,
        with_cp: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if out_channels < 1:
            raise ValueError(
                f"DensePredictionHead out_channels must be >= 1, got {out_channels}"
            )
        channels = in_channels if channels is None else channels
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.with_cp = with_cp
        self.conv = ConvModule(
            in_channels, channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg
        )
        self.cls = nn.Conv2d(channels, out_channels, 1)
        nn.init.constant_(self.cls.bias, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) -> (B, out_channels, H, W)."""
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(
                f"DensePredictionHead expects (B, {self.in_channels}, H, W), got "
                f"{tuple(x.shape)}"
            )
        return checkpoint(self._predict, x, enabled=self.with_cp, modules=[self])

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls(self.conv(x))
