"""Homoscedastic uncertainty weighting (Kendall et al., CVPR 2018)."""

from typing import List, Sequence

import torch
import torch.nn as nn
from mmseg.registry import MODELS

from .base_weighting import BaseWeighting


@MODELS.register_module()
class UncertaintyWeighting(BaseWeighting):
    """Learnable task weights from homoscedastic uncertainty.

    "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene Geometry
    and Semantics", Kendall et al., CVPR 2018. Each task has a learnable
    log-variance ``s_t = log sigma_t^2`` (initialised to 0) and

    ``total = sum_t exp(-s_t) L_t + s_t``

    on the raw losses. This is twice Kendall's regression objective
    ``1/(2 sigma^2) L + log sigma``; the factor 1/2 only rescales the
    gradient, and the same form is used for every task (the classification
    variant's different factor is not applied), as in most multi-task
    benchmarks. The logged weights are ``exp(-s_t)``.

    ``log_variances`` is a parameter of the model, so the optimizer trains it;
    exclude it from weight decay (``paramwise_cfg=dict(custom_keys={
    'weighting': dict(decay_mult=0.)})``), or decay pulls every ``s_t``
    towards 0.

    Args:
        tasks (Sequence[str]): Task names.
    """

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__(tasks, history_size=1)
        self.log_variances = nn.Parameter(torch.zeros(self.num_tasks))

    @property
    def weights(self) -> List[float]:
        return torch.exp(-self.log_variances.detach()).tolist()

    def combine(
        self, task_losses: torch.Tensor, labelled: torch.Tensor
    ) -> torch.Tensor:
        # an unlabelled task adds neither its loss nor its s_t: s_t alone
        # would be pushed down (its weight up) by every batch without labels
        log_variances = self.log_variances.to(task_losses.dtype)
        terms = torch.exp(-log_variances) * task_losses + log_variances
        return torch.where(labelled, terms, 0.0).sum()

    def update_weights(self) -> None:
        """The weights are learnt by the optimizer, not per period."""
