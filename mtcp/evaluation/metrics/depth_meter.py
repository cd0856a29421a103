"""Depth: RMSE, abs_rel, log_rmse and delta accuracies pooled over pixels."""

from typing import Dict, Optional

import numpy as np
import torch

from .base_meter import (
    ArrayLike,
    BaseMeter,
    Statistics,
    single_channel_pair,
    warn_nothing_evaluated,
)

# The multi-task protocol clamps predictions to this before taking logs and
# ratios, so a prediction of 0 m gives a large but finite error.
MIN_PREDICTION = 1e-9
DELTA_BASE = 1.25


class DepthMeter(BaseMeter):
    """Depth errors pooled over every valid pixel of a dataset.

    A pixel is valid where the label is > 0 (and <= ``max_depth`` when
    given). Sums over all valid pixels of the dataset give
    ``rmse = sqrt(sum (p - g)^2 / N)``, ``abs_rel = sum |p - g| / g / N``,
    ``log_rmse = sqrt(sum (log p - log g)^2 / N)`` and
    ``delta<k> = #{max(p / g, g / p) < 1.25^k} / N`` (a fraction). So an
    image with many valid pixels weighs more than one with few, and an image
    without any valid pixel adds nothing. Predictions are clamped to
    ``[1e-9, max_depth]``.

    Args:
        max_depth (float, optional): Cap in metres; labels above it are left
            out and predictions clipped to it. Defaults to None (no cap, the
            multi-task protocol).
    """

    task = "depth"

    def __init__(self, max_depth: Optional[float] = None) -> None:
        if max_depth is not None and max_depth <= 0:
            raise ValueError(f"max_depth must be positive, got {max_depth}")
        self.max_depth = max_depth
        super().__init__()

    def empty_state(self) -> Statistics:
        state = dict(count=np.zeros((), dtype=np.int64))
        for key in ("sq_err", "abs_rel", "log_sq_err"):
            state[key] = np.zeros((), dtype=np.float64)
        for k in (1, 2, 3):
            state[f"delta{k}"] = np.zeros((), dtype=np.int64)
        return state

    def statistics(self, pred: ArrayLike, gt: ArrayLike) -> Statistics:
        pred, gt = single_channel_pair(pred, gt, self.task)
        gt = gt.to(device=pred.device, dtype=torch.float64)
        valid = gt > 0
        if self.max_depth is not None:
            valid &= gt <= self.max_depth
        pred = pred.double()
        if not (torch.isfinite(pred) | ~valid).all():
            raise ValueError("depth prediction has NaN or infinite values")
        # dense masked arithmetic instead of boolean indexing, which is
        # several times slower in torch on CPU; invalid pixels compare 1 to 1
        gt = torch.where(valid, gt, 1.0)
        pred = torch.where(
            valid, pred.clamp(min=MIN_PREDICTION, max=self.max_depth), 1.0
        )
        ratio = pred / gt
        stats = dict(
            count=valid.sum(),
            sq_err=(pred - gt).square().sum(),
            abs_rel=(ratio - 1).abs().sum(),
            log_sq_err=ratio.log().square().sum(),
        )
        ratio = torch.maximum(ratio, ratio.reciprocal())
        for k in (1, 2, 3):
            # invalid pixels have ratio 1 and would pass every delta
            stats[f"delta{k}"] = ((ratio < DELTA_BASE**k) & valid).sum()
        return {key: value.cpu().numpy() for key, value in stats.items()}

    def compute(self) -> Dict[str, float]:
        """Return ``rmse`` (m), ``abs_rel``, ``log_rmse`` and ``delta1..3``."""
        count = int(self.state["count"])
        if count == 0:
            warn_nothing_evaluated(self.task, "valid pixel")
            count = np.nan
        results = dict(
            rmse=np.sqrt(self.state["sq_err"] / count),
            abs_rel=self.state["abs_rel"] / count,
            log_rmse=np.sqrt(self.state["log_sq_err"] / count),
        )
        for k in (1, 2, 3):
            results[f"delta{k}"] = self.state[f"delta{k}"] / count
        return {key: float(value) for key, value in results.items()}
