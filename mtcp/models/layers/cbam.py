"""Convolutional Block Attention Module (Woo et al., ECCV 2018)."""

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptMultiConfig


class _AMax(torch.autograd.Function):
    """``x.amax(dim, keepdim=True)`` with PyTorch's gradient (split evenly
    among the maxima of a slice) in fewer passes over ``x``: PyTorch's
    backward casts the full boolean mask to integers to count the maxima."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, dim) -> torch.Tensor:
        out = x.amax(dim=dim, keepdim=True)
        ctx.save_for_backward(x, out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, out = ctx.saved_tensors
        mask = x == out
        count = mask.sum(ctx.dim, keepdim=True, dtype=grad.dtype)
        return torch.where(mask, grad / count, 0.0), None


def amax(x: torch.Tensor, dim) -> torch.Tensor:
    """``x.amax(dim, keepdim=True)``; where it needs a gradient, through
    :class:`_AMax` (same values and gradient, a cheaper backward)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _AMax.apply(x, dim)
    return x.amax(dim=dim, keepdim=True)


@MODELS.register_module()
class CBAM(BaseModule):
    """Channel gate followed by a spatial gate.

    The channel gate passes the global average- and max-pooled descriptors
    through one shared MLP (two 1x1 convolutions), sums them and applies a
    sigmoid. The spatial gate convolves the channel-wise max and mean maps
    with a ``kernel_size`` convolution and applies a sigmoid. The input is
    multiplied by both gates in that order.

    Args:
        channels (int): Channels of the input (and output).
        reduction (int): Reduction ratio of the channel MLP. Default: 16.
        min_hidden_channels (int): Lower bound of the MLP's hidden width, so
            small feature maps (tiny test models) keep a usable bottleneck;
            it never exceeds ``channels``. Default: 8.
        kernel_size (int): Kernel size of the spatial gate's convolution.
            Default: 7.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        min_hidden_channels: int = 8,
        kernel_size: int = 7,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if channels < 1 or reduction < 1 or min_hidden_channels < 1:
            raise ValueError(
                "CBAM needs channels, reduction and min_hidden_channels >= 1, got "
                f"{channels}, {reduction} and {min_hidden_channels}"
            )
        if kernel_size % 2 != 1:
            raise ValueError(
                f"CBAM kernel_size must be odd to keep the size, got {kernel_size}"
            )
        self.channels = channels
        hidden = min(channels, max(channels // reduction, min_hidden_channels))
        self.mlp = nn.Sequential(
            ConvModule(channels, hidden, 1, act_cfg=dict(type="ReLU")),
            nn.Conv2d(hidden, channels, 1),
        )
        self.spatial_conv = nn.Conv2d(
            2, 1, kernel_size, padding=kernel_size // 2, bias=True
        )

    def channel_gate(self, x: torch.Tensor) -> torch.Tensor:
        """Return the channel gate (B, C, 1, 1) in [0, 1]."""
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        mx = self.mlp(amax(x, (2, 3)))
        return torch.sigmoid(avg + mx)

    def spatial_gate(self, x: torch.Tensor) -> torch.Tensor:
        """Return the spatial gate (B, 1, H, W) in [0, 1]."""
        pooled = torch.cat([amax(x, 1), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.spatial_conv(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.size(1) != self.channels:
            raise ValueError(
                f"CBAM expects a (B, {self.channels}, H, W) tensor, got "
                f"{tuple(x.shape)}"
            )
        x = x * self.channel_gate(x)
        return x * self.spatial_gate(x)
