"""Class-balanced binary cross-entropy for saliency and edges."""

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from mtcp.structures import IGNORE_INDEX

from .utils import check_pair, masked_mean


@MODELS.register_module()
class BalancedBCELoss(nn.Module):
    """Binary cross-entropy on logits with positives weighted ``w``.

    Follows the HED / ASTMT / MTI-Net convention: positives are weighted by
    ``w`` and negatives by ``1 - w``, with ``w = #neg / #valid`` over the
    batch's valid pixels (so the rare class gets the large weight), or a fixed
    ``pos_weight`` (0.95 for edges). The weighted sum is averaged over the
    valid pixels.

    Args:
        pos_weight (float, optional): Fixed weight of the positives in [0, 1];
            None computes ``w`` per batch. Default: None.
        ignore_index (int): Label value excluded from the loss. Default: 255.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
    """

    def __init__(
        self,
        pos_weight: Optional[float] = None,
        ignore_index: int = IGNORE_INDEX,
        loss_weight: float = 1.0,
    ):
        super().__init__()
        if pos_weight is not None and not 0.0 <= pos_weight <= 1.0:
            raise ValueError(
                f"BalancedBCELoss pos_weight must be in [0, 1] or None, got {pos_weight}"
            )
        self.pos_weight = pos_weight
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args: pred (B, 1, H, W) logits, target (B, 1, H, W) 0/1, ignore 255."""
        check_pair(type(self).__name__, pred, target, 1)
        valid = target != self.ignore_index
        positive = (target == 1) & valid
        if self.pos_weight is None:
            w = (valid & ~positive).sum() / valid.sum().clamp(min=1)
            w = w.to(pred.dtype)
        else:
            w = pred.new_tensor(self.pos_weight)
        labels = positive.to(pred.dtype)
        per_pixel = F.binary_cross_entropy_with_logits(pred, labels, reduction="none")
        weights = torch.where(positive, w, 1.0 - w)
        return self.loss_weight * masked_mean(weights * per_pixel, valid)
