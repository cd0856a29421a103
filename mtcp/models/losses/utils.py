"""Helpers shared by the task losses."""

import torch


def masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the ``valid`` elements.

    With no valid element the result is an exact 0 that stays attached to the
    graph, so the backward pass gives zero (never NaN) gradients.

    Args:
        values (Tensor): Per-element losses.
        valid (Tensor): Boolean mask broadcastable to ``values``.
    """
    valid = valid.expand_as(values)
    # torch.where instead of a multiplication: a non-finite value at an
    # invalid element must not leak into the sum or the gradient.
    total = torch.where(valid, values, values.new_zeros(())).sum()
    return total / valid.sum().clamp(min=1).to(values.dtype)


def check_pair(
    name: str, pred: torch.Tensor, target: torch.Tensor, channels: int
) -> None:
    """Raise when ``pred`` and ``target`` do not describe the same pixels.

    Args:
        name (str): Loss name used in the message.
        pred (Tensor): Prediction (B, C, H, W).
        target (Tensor): Label map (B, channels, H, W).
        channels (int): Expected channels of ``target``.
    """
    if pred.dim() != 4 or target.dim() != 4:
        raise ValueError(
            f"{name} expects 4-D (B, C, H, W) prediction and target, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.shape[0] != target.shape[0] or pred.shape[2:] != target.shape[2:]:
        raise ValueError(
            f"{name}: prediction {tuple(pred.shape)} and target "
            f"{tuple(target.shape)} differ in batch size or spatial size"
        )
    if target.shape[1] != channels:
        raise ValueError(
            f"{name} expects a target with {channels} channel(s), got "
            f"{tuple(target.shape)}"
        )
