"""Seeding the global random number generators from a tuple of integers.

Data transforms (mmcv's, mmseg's and mtcp's) and stochastic layers draw from
the global generators of numpy, Python's :mod:`random` and torch. Seeding all
three from ``np.random.SeedSequence(entropy)`` makes what they draw a function
of ``entropy`` alone, whatever ran before in the process.
"""

import contextlib
import random
from typing import Iterator, Sequence

import numpy as np
import torch


def _seeds(entropy: Sequence[int]) -> tuple:
    """Three independent seeds (numpy, random, torch) from ``entropy``."""
    words = np.random.SeedSequence([int(e) % 2**64 for e in entropy]).generate_state(
        4, dtype=np.uint32
    )
    np_seed = int(words[0])
    py_seed = int(words[1])
    torch_seed = (int(words[2]) << 32) | int(words[3])
    return np_seed, py_seed, torch_seed


def seed_global_rngs(entropy: Sequence[int], accelerators: bool = True) -> None:
    """Seed numpy's, Python's and torch's global generators from ``entropy``.

    Args:
        entropy (Sequence[int]): Any integers, e.g. ``(seed, epoch, index)``;
            negative values are taken modulo 2**64.
        accelerators (bool): Seed torch's accelerator generators too
            (``torch.manual_seed``), not only its CPU generator. Defaults to
            True.
    """
    np_seed, py_seed, torch_seed = _seeds(entropy)
    np.random.seed(np_seed)
    random.seed(py_seed)
    if accelerators:
        torch.manual_seed(torch_seed)
    else:
        torch.default_generator.manual_seed(torch_seed)


@contextlib.contextmanager
def isolated_global_rngs(entropy: Sequence[int]) -> Iterator[None]:
    """Seed the global generators from ``entropy`` for the ``with`` block and
    put their previous states back afterwards.

    What the block draws depends on ``entropy`` only, and what the process
    draws after the block is what it would have drawn without it (the data
    pipeline of ``num_workers=0`` runs in the training process). Only torch's
    CPU generator is touched: transforms run on the CPU.
    """
    np_state = np.random.get_state()
    py_state = random.getstate()
    torch_state = torch.get_rng_state()
    seed_global_rngs(entropy, accelerators=False)
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        torch.set_rng_state(torch_state)
