"""Dynamic Weight Average (Liu et al., CVPR 2019)."""

import logging
import math
from typing import Optional, Sequence

from mmengine.logging import print_log
from mmseg.registry import MODELS

from .base_weighting import BaseWeighting


@MODELS.register_module()
class DWA(BaseWeighting):
    """Dynamic Weight Average, computed on period means.

    "End-to-End Multi-Task Learning with Attention", Liu et al., CVPR 2019.
    With ``Lbar_t`` the mean raw loss of task t over a period, the weights for
    period p are ``w_t = T exp(r_t / temperature) / sum_k exp(r_k /
    temperature)`` with ``r_t = Lbar_t^(p-1) / Lbar_t^(p-2)``; they are 1 for
    the first two periods. The weights are constants for the gradient. A
    task without a positive mean in one of the two periods (no labelled
    pixel) has no rate: the weights are kept, with a warning.

    Args:
        tasks (Sequence[str]): Task names.
        temperature (float): Softmax temperature, > 0. Defaults to 2.0 (the
            paper's value).
    """

    weights_sum_to_t = True

    def __init__(self, tasks: Sequence[str], temperature: float = 2.0) -> None:
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature}")
        super().__init__(tasks, history_size=2)
        self.temperature = temperature

    def update_weights(self) -> None:
        if len(self._history) < 2:
            return
        before, now = self._history
        lossless = [
            t for t, b, n in zip(self.tasks, before, now) if not (b > 0 and n >= 0)
        ]
        if lossless:
            # a period without any labelled pixel of a task (mean 0, or NaN
            # when no iteration had its labels) gives no rate: keep the weights
            print_log(
                f"DWA: task(s) {lossless} had no loss in period "
                f"{self._num_periods - 1} or {self._num_periods}; the weights "
                f"stay {[round(w, 4) for w in self._weights]}",
                logger="current",
                level=logging.WARNING,
            )
            return
        rates = [n / b for n, b in zip(now, before)]
        # Shifting by the largest rate keeps exp() from overflowing.
        top = max(rates)
        exps = [math.exp((r - top) / self.temperature) for r in rates]
        self._weights = [self.num_tasks * e / sum(exps) for e in exps]

    def check_weights(self, weights: Sequence[float]) -> Optional[str]:
        """DWA weights are a softmax times T: all > 0 and summing to T."""
        problem = super().check_weights(weights)
        if problem is not None:
            return problem
        if not all(w > 0 for w in weights):
            return "weights that are not all positive"
        return None

    def extra_repr(self) -> str:
        return f"tasks={self.tasks}, temperature={self.temperature}"
