"""One decision for all ranks from per-rank flags, without a device sync.

The training hooks that may stop or skip a step (pre-emption, non-finite
losses) must take the same decision on every rank: a rank that stops or
skips a backward pass while the others wait in the next collective would
leave them hanging until the collective timeout. The flags live on the host;
they are reduced over gloo (the default process group when it is gloo,
else a gloo group created for them), so an NCCL run does not move them to
the GPU and back.
"""

from typing import Optional

import torch
import torch.distributed as torch_dist

_CONTROL_GROUPS: dict = {}


def is_distributed() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized()


def control_group() -> Optional[object]:
    """The process group the flags are reduced over (None: the default
    group, or not distributed).

    With a non-gloo default backend a gloo group is created the first time:
    every rank must call this at the same point (the hooks do so in
    ``before_train``).
    """
    if not is_distributed() or torch_dist.get_backend() == "gloo":
        return None
    world = torch_dist.group.WORLD
    if id(world) not in _CONTROL_GROUPS:
        _CONTROL_GROUPS[id(world)] = torch_dist.new_group(backend="gloo")
    return _CONTROL_GROUPS[id(world)]


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is set on any rank (``flag`` itself outside
    distributed runs). A collective: every rank must call it."""
    if not is_distributed():
        return flag
    value = torch.tensor([int(flag)], dtype=torch.int32)
    torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MAX, group=control_group())
    return bool(value.item())
