"""Shared helpers of the weighting tests."""

import math
from typing import Dict, Sequence

import torch

from mtcp.models.weighting import BaseWeighting


def raw(projected: float) -> torch.Tensor:
    """The raw loss whose log projection log(1 + l) is ``projected``."""
    return torch.tensor(math.expm1(projected), dtype=torch.float64)


def feed_period(
    weighting: BaseWeighting,
    iterations: Sequence[Dict[str, float]],
    projected: bool = False,
) -> Dict[str, float]:
    """Run ``weighting`` on one loss dict per iteration, then end the period.

    With ``projected`` the values are the wanted ``log(1 + l)`` and the raw
    losses fed are ``expm1`` of them.
    """
    weighting.train()
    for values in iterations:
        losses = {
            name: raw(v) if projected else torch.tensor(v, dtype=torch.float64)
            for name, v in values.items()
        }
        weighting(losses)
    return weighting.end_period()


def state_summary(weighting) -> dict:
    """The weighting state as plain python values, for comparisons."""
    return dict(
        weights=list(weighting.weights),
        history=weighting.history,
        num_periods=weighting.num_periods,
        period_count=weighting._period_count,
        period_sums=list(weighting._period_sums),
    )
