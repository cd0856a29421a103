"""The interface shared by the per-task meters.

A meter turns one (prediction, label) pair into small sufficient statistics
(a confusion matrix, a few sums, a histogram) with :meth:`BaseMeter.statistics`,
adds them to its state with :meth:`BaseMeter.accumulate` and derives the
dataset-level figures with :meth:`BaseMeter.compute`. The statistics add up,
so :class:`MultiTaskMetric` keeps one running sum per rank (plus the last
sample, which a distributed sampler may have padded) and gathers the sums
across ranks, without ever holding per-pixel arrays.
"""

import logging
from abc import ABCMeta, abstractmethod
from typing import Dict, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log
from prettytable import PrettyTable

ArrayLike = Union[torch.Tensor, np.ndarray]
Statistics = Dict[str, np.ndarray]


def to_tensor(x: ArrayLike) -> torch.Tensor:
    """Return ``x`` as a tensor without copying tensors."""
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


def squeeze_single_channel(x: torch.Tensor, what: str) -> torch.Tensor:
    """Accept a (H, W) or (1, H, W) map and return it as (H, W)."""
    if x.dim() == 3 and x.shape[0] == 1:
        return x[0]
    if x.dim() != 2:
        raise ValueError(
            f"{what} must have shape (H, W) or (1, H, W), got {tuple(x.shape)}"
        )
    return x


def check_same_size(pred: torch.Tensor, gt: torch.Tensor, task: str) -> None:
    """Fail unless the prediction covers exactly the label's pixels."""
    if pred.shape[-2:] != gt.shape[-2:]:
        raise ValueError(
            f"{task} prediction has size {tuple(pred.shape[-2:])} but its label "
            f"has size {tuple(gt.shape[-2:])}; predictions must be at the "
            "original image size (the model's predict resizes them to "
            "`ori_shape`) and so must the labels: a test pipeline loads them "
            "after any resize of the image"
        )


def single_channel_pair(
    pred: ArrayLike, gt: ArrayLike, task: str
) -> Tuple[torch.Tensor, torch.Tensor]:
    """A single-channel prediction and label as (H, W) tensors of the same
    size, after :func:`squeeze_single_channel` and :func:`check_same_size`."""
    pred = squeeze_single_channel(to_tensor(pred), f"{task} prediction")
    gt = squeeze_single_channel(to_tensor(gt), f"{task} label")
    check_same_size(pred, gt, task)
    return pred, gt


def warn_nothing_evaluated(task: str, what: str) -> None:
    """Log that no ``what`` (e.g. 'valid pixel') of ``task`` was evaluated,
    so its figures are NaN."""
    print_log(
        f"{task}: no {what} was evaluated; its figures are NaN",
        logger="current",
        level=logging.WARNING,
    )


def pool_statistics(
    a: Dict[str, Statistics], b: Dict[str, Statistics]
) -> Dict[str, Statistics]:
    """Sum two ``task -> statistics`` dicts of the same tasks."""
    if a.keys() != b.keys():
        task = sorted(set(a) ^ set(b))[0]
        raise KeyError(
            f"some samples have a {task!r} prediction and others not; pass "
            "`tasks` to score a fixed set of tasks"
        )
    return {
        task: {key: a[task][key] + value for key, value in b[task].items()}
        for task in a
    }


class BaseMeter(metaclass=ABCMeta):
    """Accumulates dataset-level statistics of one task.

    Subclasses define the statistics of one image, the empty state and how
    the figures follow from the accumulated state.
    """

    #: Task name, used in error messages and tables.
    task: str = ""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.state = self.empty_state()

    @abstractmethod
    def empty_state(self) -> Statistics:
        """Return zero statistics, the identity of :meth:`accumulate`."""

    @abstractmethod
    def statistics(self, pred: ArrayLike, gt: ArrayLike) -> Statistics:
        """Return the sufficient statistics of one image.

        Args:
            pred (Tensor | np.ndarray): Prediction at the label's size.
            gt (Tensor | np.ndarray): Label map.

        Returns:
            dict[str, np.ndarray]: Arrays with the shapes of
            :meth:`empty_state`.
        """

    @abstractmethod
    def compute(self) -> Dict[str, float]:
        """Return the figures of everything accumulated so far."""

    def accumulate(self, stats: Statistics) -> None:
        """Add the statistics of one image (or of a set) to the state."""
        if stats.keys() != self.state.keys():
            raise KeyError(
                f"{self.task} statistics have keys {sorted(stats)}, expected "
                f"{sorted(self.state)}"
            )
        for key, value in stats.items():
            self.state[key] = self.state[key] + value

    def update(self, pred: ArrayLike, gt: ArrayLike) -> None:
        """Accumulate one (prediction, label) pair."""
        self.accumulate(self.statistics(pred, gt))

    def format_table(self, results: Dict[str, float]) -> str:
        """Return the figures of :meth:`compute` as a one-row table."""
        return summary_table(results.items())


def summary_table(items: Sequence[Tuple[str, float]], digits: int = 4) -> str:
    """Render name/value pairs as a one-row PrettyTable."""
    table = PrettyTable()
    for name, value in items:
        table.add_column(name, [round(float(value), digits)])
    return table.get_string()
