"""IterSeedHook: a training step's random draws depend on (seed, iteration)."""

import random
from types import SimpleNamespace

import numpy as np
import torch
from mmengine.config import Config

from mtcp.datasets import SeededSampler, SyntheticScenesDataset
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


def test_resumed_seed_reaches_the_sampler():
    """A config without randomness.seed: the sampler was built with a fresh
    seed, the resume restored the checkpoint's; the sampler must follow."""
    dataset = SyntheticScenesDataset(num_samples=4, img_size=(32, 32), pipeline=[])
    sampler = SeededSampler(dataset, seed=123)
    runner = SimpleNamespace(seed=7, train_dataloader=SimpleNamespace(sampler=sampler))
    IterSeedHook().before_train(runner)
    assert sampler.seed == 7
    assert [key.seed for key in sampler] == [7] * 4
