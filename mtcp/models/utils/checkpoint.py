"""Non-reentrant activation checkpointing that keeps BN statistics exact."""

from contextlib import contextmanager, nullcontext
from functools import partial
from typing import Callable, Iterator, List, Optional

import torch
import torch.nn as nn
import torch.utils.checkpoint as torch_cp
from torch.autograd.profiler import record_function
from torch.nn.modules.batchnorm import _BatchNorm


def _batch_norms(modules: Optional[List[nn.Module]]) -> List[_BatchNorm]:
    if not modules:
        return []
    return [
        m
        for module in modules
        for m in module.modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats
    ]


@contextmanager
def _keep_running_stats(norms: List[_BatchNorm]) -> Iterator[None]:
    """Undo the running-statistics update of a recomputed forward.

    The recomputation runs the batch norms in training mode a second time;
    their outputs are the same (batch statistics), but without this their
    running mean, variance and counter would be updated twice per step. The
    recomputation is a profiler range (``checkpoint recompute``, see
    :mod:`mtcp.utils.profiling`).
    """
    saved = [
        (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
        for m in norms
    ]
    try:
        with record_function("checkpoint recompute"):
            yield
    finally:
        with torch.no_grad():
            for m, (mean, var, count) in zip(norms, saved):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)


def _contexts(norms: List[_BatchNorm]):
    return nullcontext(), _keep_running_stats(norms)


def checkpoint(
    fn: Callable,
    *args,
    enabled: bool = True,
    modules: Optional[List[nn.Module]] = None,
):
    """``fn(*args)``, with its activations recomputed in the backward.

    Non-reentrant :func:`torch.utils.checkpoint.checkpoint`: only the inputs
    of ``fn`` are kept for the backward, which runs ``fn`` again to get the
    rest. Outputs and gradients are those of ``fn(*args)``; the batch norms
    among ``modules`` keep the running statistics of the first forward.
    Without grad (inference) or when not ``enabled``, ``fn`` runs plainly.

    Args:
        fn (Callable): The function to run (tensors in, tensors out).
        *args: Its positional arguments.
        enabled (bool): Checkpoint at all. Default: True.
        modules (list[nn.Module], optional): The modules ``fn`` runs whose
            batch norms must not count the recomputation. Default: None.
    """
    if not enabled or not torch.is_grad_enabled():
        return fn(*args)
    return torch_cp.checkpoint(
        fn,
        *args,
        use_reentrant=False,
        context_fn=partial(_contexts, _batch_norms(modules)),
    )
