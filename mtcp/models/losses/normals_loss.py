"""L1 loss between L2-normalised predicted and ground-truth normals."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from .utils import check_pair, masked_mean


@MODELS.register_module()
class NormalsL1Loss(nn.Module):
    """L1 distance between unit normals, valid where the gt is not the 0-vector.

    The prediction is L2-normalised along channels; the loss is the mean
    absolute difference over the 3 components of every valid pixel
    (element-wise mean, as ``F.l1_loss`` over the valid pixels).

    Args:
        eps (float): Lower bound of the prediction's norm. Default: 1e-6.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
    """

    def __init__(self, eps: float = 1e-6, loss_weight: float = 1.0):
        super().__init__()
        self.eps = eps
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args: pred (B, 3, H, W) raw normals, target (B, 3, H, W) unit or 0."""
        check_pair(type(self).__name__, pred, target, 3)
        if pred.shape[1] != 3:
            raise ValueError(
                f"NormalsL1Loss expects a 3-channel prediction, got {tuple(pred.shape)}"
            )
        pred = F.normalize(pred, dim=1, eps=self.eps)
        valid = (target != 0).any(dim=1, keepdim=True)
        return self.loss_weight * masked_mean((pred - target).abs(), valid)
