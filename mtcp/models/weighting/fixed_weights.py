"""Manually chosen, constant task weights."""

import math
from typing import Dict, Sequence

from mmseg.registry import MODELS

from .base_weighting import BaseWeighting


@MODELS.register_module()
class FixedWeights(BaseWeighting):
    """Constant per-task weights: ``sum_t w_t L_t`` on the raw losses.

    The weights are used as given (not renormalised). The period means of
    ``L_t`` are still collected, so :meth:`end_period` logs them.

    Args:
        tasks (Sequence[str]): Task names.
        weights (dict[str, float]): One finite weight >= 0 per task, e.g.
            ``dict(semseg=1.0, depth=2.0, normals=10.0)``.
    """

    def __init__(self, tasks: Sequence[str], weights: Dict[str, float]) -> None:
        super().__init__(tasks, history_size=1)
        missing = [task for task in self.tasks if task not in weights]
        extra = [name for name in weights if name not in self.tasks]
        if missing or extra:
            raise KeyError(
                f"`weights` must have exactly one entry per task {self.tasks}; "
                f"missing {missing}, not a task {extra}"
            )
        for task in self.tasks:
            weight = weights[task]
            if not isinstance(weight, (int, float)) or not (
                math.isfinite(weight) and weight >= 0
            ):
                raise ValueError(
                    f"`weights[{task!r}]` must be a finite number >= 0, got {weight!r}"
                )
        self._weights = [float(weights[task]) for task in self.tasks]

    def update_weights(self) -> None:
        """The weights are fixed."""

    def extra_repr(self) -> str:
        return f"tasks={self.tasks}, weights={dict(zip(self.tasks, self._weights))}"
