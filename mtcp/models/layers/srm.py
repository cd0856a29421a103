"""Spatial Refinement Module: trace the fused map back through a decoder stage."""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptMultiConfig

from ..utils import checkpoint
from .cbam import CBAM


@MODELS.register_module()
class SpatialRefinementModule(BaseModule):
    """Refine a map with one of the task decoder's stages (docs/model.md).

    ``x' = CBAM(x)`` resized (bilinear) to the size of ``b``,
    ``b' = CBAM(b)``; ``concat(x', b')`` feeds two parallel Conv1x1-BN-ReLU
    branches: ``carry`` (the next SRM's input) and ``side`` (a prediction
    head's input). The last SRM of a trace-back has no next SRM: build it
    with ``with_carry=False`` so it holds no parameter without a gradient.

    Args:
        in_channels (int): Channels of ``x``.
        stage_channels (int): Channels of the decoder stage ``b``.
        out_channels (int): Channels of ``carry`` and ``side``.
        cbam_reduction (int): Reduction ratio of the CBAM channel MLPs.
            Default: 16.
        norm_cfg (dict): Normalisation layer config. Default: ``dict(type='BN')``.
        align_corners (bool): ``align_corners`` of the bilinear resize.
            Default: False.
        with_carry (bool): Build the ``carry`` branch. Default: True.
        with_cp (bool): Activation checkpointing: the backward recomputes
            the module's forward instead of keeping its activations.
            Default: False.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(
        self,
        in_channels: int,
        stage_channels: int,
        out_channels: int,
        cbam_reduction: int = 16,
        norm_cfg: ConfigType = dict(type="BN"),
        align_corners: bool = False,
        with_carry: bool = True,
        with_cp: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.stage_channels = stage_channels
        self.align_corners = align_corners
        self.x_cbam = CBAM(in_channels, reduction=cbam_reduction)
        self.b_cbam = CBAM(stage_channels, reduction=cbam_reduction)
        cat_channels = in_channels + stage_channels
        self.with_carry = with_carry
        self.with_cp = with_cp
        if with_carry:
            self.carry = ConvModule(
                cat_channels,
                out_channels,
                1,
                norm_cfg=norm_cfg,
                act_cfg=dict(type="ReLU"),
            )
        self.side = ConvModule(
            cat_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=dict(type="ReLU")
        )

    def forward(
        self, x: torch.Tensor, b: torch.Tensor
    ) -> Tuple[Optional[torch.Tensor], torch.Tensor]:
        """Return ``(carry, side)``, both (B, out_channels) at the size of ``b``.

        ``carry`` is None when the module was built with ``with_carry=False``.

        Args:
            x (Tensor): (B, in_channels, H, W).
            b (Tensor): Decoder stage (B, stage_channels, h, w).
        """
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(
                f"SpatialRefinementModule expects x of shape (B, {self.in_channels}, "
                f"H, W), got {tuple(x.shape)}"
            )
        if b.dim() != 4 or b.size(1) != self.stage_channels:
            raise ValueError(
                "SpatialRefinementModule expects the decoder stage b of shape "
                f"(B, {self.stage_channels}, h, w), got {tuple(b.shape)}"
            )
        return checkpoint(self._refine, x, b, enabled=self.with_cp, modules=[self])

    def _refine(
        self, x: torch.Tensor, b: torch.Tensor
    ) -> Tuple[Optional[torch.Tensor], torch.Tensor]:
        x = F.interpolate(
            self.x_cbam(x),
            size=b.shape[2:],
            mode="bilinear",
            align_corners=self.align_corners,
        )
        cat = torch.cat([x, self.b_cbam(b)], dim=1)
        carry = self.carry(cat) if self.with_carry else None
        return carry, self.side(cat)
