"""Pixel-wise cross-entropy for class-map tasks (semseg, human parts)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from mtcp.structures import IGNORE_INDEX

from .utils import check_pair, masked_mean


@MODELS.register_module()
class TaskCrossEntropyLoss(nn.Module):
    """Cross-entropy averaged over the pixels whose label is not ignored.

    Args:
        ignore_index (int): Label value excluded from the loss. Default: 255.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX, loss_weight: float = 1.0):
        super().__init__()
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args: pred (B, K, H, W) logits, target (B, 1, H, W) int64 classes."""
        check_pair(type(self).__name__, pred, target, 1)
        target = target[:, 0].long()
        per_pixel = F.cross_entropy(
            pred, target, ignore_index=self.ignore_index, reduction="none"
        )
        return self.loss_weight * masked_mean(per_pixel, target != self.ignore_index)
