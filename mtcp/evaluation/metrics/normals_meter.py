"""Surface normals: statistics of the angular error in degrees."""

import math
from typing import Dict, Tuple

import numpy as np
import torch

from .base_meter import (
    ArrayLike,
    BaseMeter,
    Statistics,
    check_same_size,
    to_tensor,
    warn_nothing_evaluated,
)

ANGLE_THRESHOLDS = (11.25, 22.5, 30.0)
MAX_ANGLE = 180.0
# Lower edge of the first geometric histogram bin, degrees.
MIN_ANGLE = 1e-6


def _length(vectors: torch.Tensor) -> torch.Tensor:
    """Euclidean length of (3, N) vectors, per row to avoid a strided
    reduction, which is several times slower on CPU."""
    return torch.hypot(torch.hypot(vectors[0], vectors[1]), vectors[2])


class NormalsMeter(BaseMeter):
    """Angular error between predicted and labelled normals.

    Both vectors are L2-normalised (a zero prediction stays zero, which
    scores 90 degrees) and the angle is
    ``degrees(2 * atan2(|p - g|, |p + g|))``, a numerically stable form of
    ``arccos(p . g)``. Pixels whose label is the zero vector are left out.
    Over all valid pixels of the dataset the meter reports the ``mean``,
    ``rmse`` and the share (in percent) of pixels below 11.25, 22.5 and 30
    degrees exactly, and the ``median`` from a histogram with geometrically
    spaced bins: from ``MIN_ANGLE`` to 180 degrees each bin spans a factor
    ``(1 + relative_precision) ** 2``, so any value inside a bin is within
    ``2 * relative_precision`` (relative) of the estimate, which places the
    median by its rank inside its bin. With the default the median is within
    1e-4 relative of ``np.median`` of all angles, whatever their range (a
    median below ``MIN_ANGLE`` = 1e-6 degree is within 1e-6 degree). The
    state is a fixed ~240 000 counts whatever the number of pixels.

    Args:
        relative_precision (float): Half the relative width of a bin.
            Defaults to 4e-5 (median within 8e-5 relative).
    """

    task = "normals"

    def __init__(self, relative_precision: float = 4e-5) -> None:
        if not 0 < relative_precision <= 0.1:
            raise ValueError(
                f"relative_precision must be in (0, 0.1], got {relative_precision}"
            )
        self.relative_precision = relative_precision
        # bin k >= 1 holds [MIN_ANGLE * q ** (k - 1), MIN_ANGLE * q ** k);
        # bin 0 holds [0, MIN_ANGLE)
        self.log_ratio = 2 * math.log1p(relative_precision)
        self.num_bins = 1 + math.ceil(math.log(MAX_ANGLE / MIN_ANGLE) / self.log_ratio)
        super().__init__()

    def bin_edges(self, index: int) -> Tuple[float, float]:
        """Return the (lower, upper) angle of histogram bin ``index``."""
        if index == 0:
            return 0.0, MIN_ANGLE
        return (
            MIN_ANGLE * math.exp((index - 1) * self.log_ratio),
            MIN_ANGLE * math.exp(index * self.log_ratio),
        )

    def empty_state(self) -> Statistics:
        state = dict(
            count=np.zeros((), dtype=np.int64),
            sum=np.zeros((), dtype=np.float64),
            sum_sq=np.zeros((), dtype=np.float64),
            within=np.zeros(len(ANGLE_THRESHOLDS), dtype=np.int64),
            hist=np.zeros(self.num_bins, dtype=np.int64),
        )
        return state

    def angle_map(
        self, pred: ArrayLike, gt: ArrayLike
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return the angular error map (degrees, float64) and the valid mask.

        Args:
            pred (Tensor | np.ndarray): Predicted normals, (3, H, W).
            gt (Tensor | np.ndarray): Labelled normals, (3, H, W); a zero
                vector marks an invalid pixel.

        Returns:
            tuple[Tensor, Tensor]: Angles (H, W) and valid mask (H, W).
        """
        pred, gt = to_tensor(pred), to_tensor(gt)
        for name, x in (("prediction", pred), ("label", gt)):
            if x.dim() != 3 or x.shape[0] != 3:
                raise ValueError(
                    f"normals {name} must have shape (3, H, W), got {tuple(x.shape)}"
                )
        check_same_size(pred, gt, self.task)
        gt = gt.to(device=pred.device, dtype=torch.float64)
        pred = pred.double()
        gt_length = _length(gt)
        valid = gt_length > 0
        if not torch.isfinite(pred).all():
            raise ValueError("normals prediction has NaN or infinite values")
        # dense arithmetic over all pixels: boolean indexing is several
        # times slower in torch on CPU; invalid pixels are masked afterwards
        pred = pred / _length(pred).clamp(min=1e-12)
        gt = gt / gt_length.clamp(min=1e-12)
        angle = 2 * torch.atan2(_length(pred - gt), _length(pred + gt))
        return torch.rad2deg(angle), valid

    def angles(self, pred: ArrayLike, gt: ArrayLike) -> torch.Tensor:
        """Return the angular errors (degrees) of the valid pixels, (N,)."""
        angle, valid = self.angle_map(pred, gt)
        return angle[valid]

    def statistics(self, pred: ArrayLike, gt: ArrayLike) -> Statistics:
        angle, valid = self.angle_map(pred, gt)
        masked = torch.where(valid, angle, 0.0)
        within = [((angle < t) & valid).sum() for t in ANGLE_THRESHOLDS]
        bins = torch.log(angle.clamp(min=MIN_ANGLE) / MIN_ANGLE) / self.log_ratio
        bins = torch.where(angle < MIN_ANGLE, 0, bins.long() + 1)
        bins = bins.clamp(max=self.num_bins - 1)
        bins = torch.where(valid, bins, self.num_bins)
        stats = dict(
            count=valid.sum(),
            sum=masked.sum(),
            sum_sq=masked.square().sum(),
            within=torch.stack(within),
        )
        stats = {key: value.cpu().numpy() for key, value in stats.items()}
        # numpy, not torch: filling the ~240,000 bins would start torch's
        # OpenMP threads, which hang in a process forked after they ran
        hist = np.bincount(bins.flatten().cpu().numpy(), minlength=self.num_bins + 1)
        stats["hist"] = hist[: self.num_bins].astype(np.int64)
        return stats

    def order_statistic(self, rank: int) -> float:
        """Return the angle of the given 0-based rank among all counted
        angles, placed by its rank inside its histogram bin."""
        hist = self.state["hist"]
        cumulative = np.cumsum(hist)
        index = int(np.searchsorted(cumulative, rank, side="right"))
        below = int(cumulative[index] - hist[index])
        lower, upper = self.bin_edges(index)
        fraction = (rank - below + 0.5) / int(hist[index])
        if index == 0:
            return lower + fraction * (upper - lower)
        return lower * math.exp(fraction * self.log_ratio)

    def median(self) -> float:
        """Return the median angle, as ``np.median`` defines it (the mean of
        the two middle values when the count is even); see the class doc."""
        count = int(self.state["hist"].sum())
        low, high = (count - 1) // 2, count // 2
        if low == high:
            return self.order_statistic(low)
        return (self.order_statistic(low) + self.order_statistic(high)) / 2

    def compute(self) -> Dict[str, float]:
        """Return ``mean``, ``median``, ``rmse`` (degrees) and the shares
        ``11.25``, ``22.5``, ``30`` (percent)."""
        count = int(self.state["count"])
        if count == 0:
            warn_nothing_evaluated(self.task, "valid pixel")
            keys = ["mean", "median", "rmse"] + [f"{t:g}" for t in ANGLE_THRESHOLDS]
            return {key: float("nan") for key in keys}
        results = dict(
            mean=float(self.state["sum"] / count),
            median=self.median(),
            rmse=math.sqrt(self.state["sum_sq"] / count),
        )
        for threshold, within in zip(ANGLE_THRESHOLDS, self.state["within"]):
            results[f"{threshold:g}"] = float(within / count * 100)
        return results
