"""Pyramid fusion of a task decoder's stages (the paper's DFPN)."""

from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig
from torch import Tensor


@MODELS.register_module()
class PyramidFusion(BaseModule):
    """Top-down FPN fusion returning the finest map.

    Lateral 1x1 convs bring every level to ``out_channels``; from the coarsest
    level down, the running map is upsampled (bilinear) to the next finer
    level and merged with its lateral; a 3x3 conv smooths the finest result.

    With ``adaptive=True`` each merge is a fast normalised fusion (as in
    EfficientDet): ``w = relu(w_raw); out = sum_i w_i x_i / (sum_i w_i + eps)``
    with two learned weights per merge (lateral, upsampled top), initialised
    equal. With ``adaptive=False`` the merge is the plain FPN sum.

    Args:
        in_channels (Sequence[int]): channels of the inputs, finest first,
            e.g. ``[C, 2C, 4C]``.
        out_channels (int): channels of the laterals and of the output.
        adaptive (bool): learned normalised merge weights. Defaults to True.
        eps (float): keeps the normalisation finite when every weight is 0.
            Defaults to 1e-4.
        conv_cfg (dict, optional): conv config of every conv. Defaults to None.
        norm_cfg (dict, optional): norm of the 3x3 output conv.
            Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): activation of the 3x3 output conv.
            Defaults to ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): initialisation config.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        adaptive: bool = True,
        eps: float = 1e-4,
        conv_cfg: OptConfigType = None,
        norm_cfg: OptConfigType = dict(type="BN"),
        act_cfg: OptConfigType = dict(type="ReLU"),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) < 2:
            raise ValueError(
                "PyramidFusion: in_channels needs at least 2 levels, got "
                f"{list(in_channels)}"
            )
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.adaptive = adaptive
        self.eps = eps
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, conv_cfg=conv_cfg, act_cfg=None)
            for c in self.in_channels
        )
        self.output_conv = ConvModule(
            out_channels,
            out_channels,
            3,
            padding=1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
        )
        if adaptive:
            # One (lateral, top-down) weight pair per merge, finest merge first.
            self.merge_weights = nn.Parameter(torch.ones(len(in_channels) - 1, 2))

    def fusion_weights(self) -> Tensor:
        """The normalised merge weights (num_levels - 1, 2), finest merge first.

        Raises:
            RuntimeError: the module was built with ``adaptive=False``.
        """
        if not self.adaptive:
            raise RuntimeError("PyramidFusion(adaptive=False) has no fusion weights")
        weights = F.relu(self.merge_weights)
        return weights / (weights.sum(1, keepdim=True) + self.eps)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Fuse the pyramid.

        Args:
            inputs (list[Tensor]): maps (B, in_channels[i], h_i, w_i), finest
                first, each level at most as large as the previous one.

        Returns:
            Tensor: the fused finest map (B, out_channels, h_0, w_0).
        """
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f"PyramidFusion expects {len(self.in_channels)} inputs, got "
                f"{len(inputs)}"
            )
        for i, (x, c) in enumerate(zip(inputs, self.in_channels)):
            if x.dim() != 4 or x.shape[1] != c:
                raise ValueError(
                    f"PyramidFusion: input {i} must be (B, {c}, h, w), got "
                    f"{tuple(x.shape)}"
                )
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        weights = self.fusion_weights() if self.adaptive else None
        out = laterals[-1]
        for i in range(len(laterals) - 2, -1, -1):
            top = F.interpolate(
                out, size=laterals[i].shape[-2:], mode="bilinear", align_corners=False
            )
            if weights is None:
                out = laterals[i] + top
            else:
                out = weights[i, 0] * laterals[i] + weights[i, 1] * top
        return self.output_conv(out)
