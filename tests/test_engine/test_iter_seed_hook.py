"""IterSeedHook: a training step's random draws depend on (seed, iteration)."""

import random
from types import SimpleNamespace

import numpy as np
import torch
from mmengine.config import Config

from mtcp.engine.hooks import IterSeedHook


def draws_at(seed: int, iteration: int, randomness=None) -> tuple:
    runner = SimpleNamespace(
        seed=seed, iter=iteration, cfg=Config(dict(randomness=randomness or {}))
    )
    IterSeedHook().before_train_iter(runner, batch_idx=0)
    return (np.random.rand(), random.random(), torch.rand(1).item())


def test_draws_depend_on_seed_and_iteration_only():
    first = draws_at(seed=0, iteration=7)
    np.random.seed(99)
    random.seed(99)
    torch.manual_seed(99)  # whatever was drawn before
    assert draws_at(seed=0, iteration=7) == first
    assert draws_at(seed=0, iteration=8) != first
    assert draws_at(seed=1, iteration=7) != first
    # rank 0 of diff_rank_seed draws as the single process
    assert draws_at(0, 7, randomness=dict(diff_rank_seed=True)) == first
