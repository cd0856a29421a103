"""Saliency: maximal F-measure over fixed thresholds, counted over the set."""

import logging
from typing import Dict

import numpy as np
import torch
from mmengine.logging import print_log

from .base_meter import ArrayLike, BaseMeter, Statistics, single_channel_pair

# 0.05, 0.10, ..., 0.95, as k / 20 so that e.g. 0.5 is exact
THRESHOLDS = np.arange(1, 20) / 20


class SaliencyMeter(BaseMeter):
    """maxF of saliency probabilities against binary labels.

    For every threshold t in 0.05, 0.10, ..., 0.95 a pixel is predicted
    salient when its probability is >= t; true positives, predicted
    positives and actual positives are summed over the valid pixels of the
    dataset, and ``F = (1 + b2) P R / (b2 P + R)`` with ``b2 = 0.3``. A
    threshold without any true positive has F = 0 (so a set without a
    salient pixel scores 0). ``maxF`` (percent) is the best F and
    ``threshold`` the first threshold reaching it.

    Each image is reduced to two 20-bin histograms of "how many thresholds
    the probability passes", for all valid pixels and for the salient ones,
    from which every threshold's counts follow by a cumulative sum. The
    thresholds are ``k / 20``.

    Args:
        beta_squared (float): Weight of precision over recall. Defaults to
            0.3.
        ignore_index (int): Label value of unscored pixels. Defaults to 255.
    """

    task = "saliency"

    def __init__(self, beta_squared: float = 0.3, ignore_index: int = 255) -> None:
        self.beta_squared = beta_squared
        self.ignore_index = ignore_index
        self.thresholds = THRESHOLDS
        super().__init__()

    def empty_state(self) -> Statistics:
        size = len(self.thresholds) + 1
        return dict(
            all_hist=np.zeros(size, dtype=np.int64),
            positive_hist=np.zeros(size, dtype=np.int64),
        )

    def statistics(self, pred: ArrayLike, gt: ArrayLike) -> Statistics:
        pred, gt = single_channel_pair(pred, gt, self.task)
        gt = gt.to(pred.device).long()
        valid = gt != self.ignore_index
        label = torch.where(valid, gt, 0)
        if label.min() < 0 or label.max() > 1:
            raise ValueError(
                "saliency label must be 0, 1 or ignore "
                f"({self.ignore_index}), found values in "
                f"[{label.min().item()}, {label.max().item()}]"
            )
        pred = torch.where(valid, pred.double(), 0.0)
        if not (pred.min() >= 0 and pred.max() <= 1):
            raise ValueError(
                "saliency prediction must be probabilities in [0, 1], found "
                f"values in [{pred.min().item()}, {pred.max().item()}] "
                "(pass sigmoid outputs, not logits)"
            )
        size = len(self.thresholds) + 1
        # thresholds passed = floor(20 p): exact for float32 probabilities,
        # whose distance to any k / 20 exceeds float64's rounding of 20 p
        passed = (pred * size).floor().long().clamp(max=size - 1)
        # one bincount for both histograms; invalid pixels go to a dropped bin
        index = torch.where(valid, passed + size * label, 2 * size)
        hist = torch.bincount(index.flatten(), minlength=2 * size + 1)[: 2 * size]
        hist = hist.reshape(2, size).cpu().numpy()
        return dict(all_hist=hist.sum(axis=0), positive_hist=hist[1].copy())

    def f_measures(self) -> np.ndarray:
        """Return the F-measure (fraction) at every threshold."""
        # a pixel passing j thresholds is positive for thresholds 1..j
        predicted = np.cumsum(self.state["all_hist"][::-1])[::-1][1:]
        true_pos = np.cumsum(self.state["positive_hist"][::-1])[::-1][1:]
        actual = self.state["positive_hist"].sum()
        b2 = self.beta_squared
        f = np.zeros(len(self.thresholds), dtype=np.float64)
        hit = true_pos > 0
        precision = true_pos[hit] / predicted[hit]
        recall = true_pos[hit] / actual
        f[hit] = (1 + b2) * precision * recall / (b2 * precision + recall)
        return f

    def compute(self) -> Dict[str, float]:
        """Return ``maxF`` (percent) and the ``threshold`` that gave it."""
        if self.state["positive_hist"].sum() == 0:
            print_log(
                "saliency: no salient pixel in the evaluated labels; maxF is 0",
                logger="current",
                level=logging.WARNING,
            )
        f = self.f_measures()
        best = int(np.argmax(f))
        return dict(maxF=float(f[best] * 100), threshold=float(self.thresholds[best]))
