"""L1 depth loss on the pixels with a valid depth."""

import torch
import torch.nn as nn
from mmseg.registry import MODELS

from .utils import check_pair, masked_mean


@MODELS.register_module()
class DepthL1Loss(nn.Module):
    """Mean absolute error over the pixels whose ground truth is > 0.

    Args:
        loss_weight (float): Multiplier of the loss. Default: 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args: pred (B, 1, H, W) depth, target (B, 1, H, W) metres, 0 invalid."""
        check_pair(type(self).__name__, pred, target, 1)
        return self.loss_weight * masked_mean((pred - target).abs(), target > 0)
