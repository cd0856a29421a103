"""The Loss Prioritization Scheme (LPS) of MT-CP and its ablation modes."""

import logging
from typing import List, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmseg.registry import MODELS

from .base_weighting import BaseWeighting

LPS_MODES = ("lps", "log", "prioritize", "equal")


def period_shares(means: Sequence[float]) -> List[float]:
    """Each task's share ``r_t = Lbar_t / sum_k Lbar_k`` of a period's loss."""
    total = sum(means)
    return [mean / total for mean in means]


def clamp_and_normalise(
    weights: Sequence[float], min_weight: float, total: float
) -> List[float]:
    """Clamp weights at ``min_weight`` and rescale them to sum to ``total``.

    Rescaling every weight after clamping could push a clamped (or a small)
    weight back below ``min_weight``. Instead the clamped weights stay at
    ``min_weight`` and only the others are rescaled to fill the rest of
    ``total``, repeated until no weight falls below ``min_weight``. This
    terminates with both constraints met whenever
    ``min_weight * len(weights) < total``.

    Args:
        weights (Sequence[float]): Weights after the spread step; at least
            one must exceed ``min_weight``.
        min_weight (float): Lower bound of every weight.
        total (float): Sum of the returned weights.

    Returns:
        list[float]: The clamped, rescaled weights.
    """
    weights = list(weights)
    clamped = [w < min_weight for w in weights]
    while True:
        free = sum(w for w, c in zip(weights, clamped) if not c)
        budget = total - min_weight * sum(clamped)
        weights = [
            min_weight if c else w * budget / free for w, c in zip(weights, clamped)
        ]
        newly = [not c and w < min_weight for w, c in zip(weights, clamped)]
        if not any(newly):
            return weights
        clamped = [c or n for c, n in zip(clamped, newly)]


@MODELS.register_module()
class LPS(BaseWeighting):
    """Loss Prioritization Scheme (MT-CP, the paper's Eqs. 3-7).

    Per task ``L_t = log(1 + l_t) + (1/S) sum_s log(1 + l_t^(s))`` (Eq. 3),
    total ``sum_t w_t L_t`` plus the coherence terms (Eq. 7). At the end of
    period ``p`` with shares ``r_t^p = Lbar_t^p / sum_k Lbar_k^p`` of the
    period means:

    1. ``w_t = r_t^p / r_t^(p-K)`` (Eq. 4): a task whose share fell slowly
       (a hard task) gets ``w_t > 1``; the weights stay 1 until K earlier
       periods exist;
    2. ``w_t <- wbar + spread * (w_t - wbar)`` with ``wbar = mean_t w_t``
       (Eqs. 5-6);
    3. clamp at ``min_weight`` and rescale to ``sum_t w_t = T`` (see
       :func:`clamp_and_normalise`).

    The weights are constants for the gradient.

    Modes (the paper's Table 4):

    - ``'lps'``: all of the above.
    - ``'log'``: the log projection only; ``w_t = 1``.
    - ``'prioritize'``: steps 1-3 on the raw losses (no projection).
    - ``'equal'``: the plain sum of the raw losses; ``w_t = 1``.

    The period means (the history, logged as ``period_loss/{task}``) are of
    the projected ``L_t`` in modes ``'lps'`` and ``'log'``, of the raw
    ``L_t`` in ``'prioritize'`` and ``'equal'``.

    Args:
        tasks (Sequence[str]): Task names.
        mode (str): One of ``'lps'``, ``'log'``, ``'prioritize'``,
            ``'equal'``. Defaults to ``'lps'``.
        history_length (int): K, how many periods back a share is compared
            with. Defaults to 1 (the paper's value was lost in the text).
        spread (float): lambda of Eq. 6, > 0. Defaults to 2.5 (the paper's).
        min_weight (float): Lower bound of a weight, in [0, 1). Defaults to
            0.05.
    """

    weights_sum_to_t = True

    def __init__(
        self,
        tasks: Sequence[str],
        mode: str = "lps",
        history_length: int = 1,
        spread: float = 2.5,
        min_weight: float = 0.05,
    ) -> None:
        if mode not in LPS_MODES:
            raise ValueError(f"`mode` must be one of {LPS_MODES}, got {mode!r}")
        if isinstance(history_length, bool) or not isinstance(history_length, int):
            raise TypeError(f"`history_length` must be an int, got {history_length!r}")
        if history_length < 1:
            raise ValueError(f"`history_length` must be >= 1, got {history_length}")
        if not spread > 0:
            raise ValueError(f"`spread` (lambda) must be > 0, got {spread}")
        if not 0 <= min_weight < 1:
            raise ValueError(f"`min_weight` must be in [0, 1), got {min_weight}")
        super().__init__(tasks, history_size=history_length + 1)
        self.mode = mode
        self.history_length = history_length
        self.spread = spread
        self.min_weight = min_weight

    def project(self, term: torch.Tensor) -> torch.Tensor:
        if self.mode in ("lps", "log"):
            return torch.log1p(term)
        return term

    def update_weights(self) -> None:
        if self.mode in ("log", "equal") or len(self._history) <= self.history_length:
            return
        periods = (self._history[-1 - self.history_length], self._history[-1])
        lossless = sorted(
            {t for means in periods for t, m in zip(self.tasks, means) if not m > 0}
        )
        if lossless:
            # A share of 0 (or NaN: no iteration had labels) has no ratio: a
            # task without any labelled pixel in a compared period (e.g.
            # human parts over a few person-free iterations) keeps the
            # weights as they are rather than ending the run.
            print_log(
                f"LPS: task(s) {lossless} had no loss in period "
                f"{self._num_periods} or {self._num_periods - self.history_length} "
                "(no labelled pixel?); the weights stay "
                f"{[round(w, 4) for w in self._weights]}",
                logger="current",
                level=logging.WARNING,
            )
            return
        before, now = (period_shares(means) for means in periods)
        ratios = [r_now / r_before for r_now, r_before in zip(now, before)]
        mean = sum(ratios) / self.num_tasks
        spread = [mean + self.spread * (w - mean) for w in ratios]
        self._weights = clamp_and_normalise(
            spread, self.min_weight, float(self.num_tasks)
        )

    def check_weights(self, weights: Sequence[float]) -> Optional[str]:
        """LPS weights are finite, >= ``min_weight``, > 0 and sum to T."""
        problem = super().check_weights(weights)
        if problem is not None:
            return problem
        if not all(w >= self.min_weight - 1e-9 and w > 0 for w in weights):
            return f"weights below min_weight={self.min_weight} or not positive"
        return None

    def extra_repr(self) -> str:
        return (
            f"tasks={self.tasks}, mode={self.mode!r}, "
            f"history_length={self.history_length}, spread={self.spread}, "
            f"min_weight={self.min_weight}"
        )
