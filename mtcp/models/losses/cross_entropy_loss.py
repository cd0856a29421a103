"""Pixel-wise cross-entropy for class-map tasks (semseg, human parts)."""

import torch
from mmseg.models.losses import CrossEntropyLoss
from mmseg.registry import MODELS

from mtcp.structures import IGNORE_INDEX

from .utils import check_pair


@MODELS.register_module()
class TaskCrossEntropyLoss(CrossEntropyLoss):
    """mmseg's ``CrossEntropyLoss(avg_non_ignore=True)`` on (B, 1, H, W) labels.

    The mean runs over the pixels whose label is not ``ignore_index``; a
    batch without any such pixel gives an exact 0 (mmseg divides the sum by
    the count plus float32's eps, so the mean differs from the exact one by a
    relative ``1.2e-7 / count``).

    Args:
        ignore_index (int): Label value excluded from the loss. Default: 255.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX, loss_weight: float = 1.0):
        super().__init__(loss_weight=loss_weight, avg_non_ignore=True)
        self.ignore_index = ignore_index

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args: pred (B, K, H, W) logits, target (B, 1, H, W) int64 classes."""
        check_pair(type(self).__name__, pred, target, 1)
        return super().forward(
            pred, target[:, 0].long(), ignore_index=self.ignore_index
        )
