"""glibc ``malloc`` settings of a training process (CPU memory).

On CPU, tensors live in memory from the C library's ``malloc``. glibc serves
a request below its mmap threshold from its heaps and keeps the freed blocks
there (the process's resident set does not shrink); a request above it is
mmapped and returned to the system when freed. The threshold is dynamic: it
starts at 128 KiB and rises to the size of every mmapped block freed, up to
32 MiB. A training step frees many same-sized feature maps between saved
activations; those under the threshold leave their freed blocks in the heap,
where they add to the peak resident set without holding any tensor
(docs/benchmarks.md, "The allocator"). A fixed threshold sends every tensor
of at least that size through ``mmap``: its memory is returned when it is
freed, at the cost of faulting in fresh pages the next time.
"""

import ctypes
import ctypes.util
import logging
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log

# mallopt parameters of glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc's largest mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX).
MAX_MMAP_THRESHOLD = 32 * 1024**2


def _glibc() -> Optional[ctypes.CDLL]:
    """The process's C library if it is glibc, else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    return libc


def set_malloc_mmap_threshold(threshold: int) -> None:
    """Fix glibc's mmap threshold at ``threshold`` bytes for this process.

    Allocations of at least ``threshold`` bytes are mmapped (returned to the
    system when freed); the heap's trim threshold is set to twice it, as
    glibc's dynamic rule would. Only later allocations are affected.

    Args:
        threshold (int): Bytes, 1 to 32 MiB (glibc's maximum).

    With another C library (macOS, musl) nothing changes and a warning says
    so: the shipped configs set a threshold and must still run there.

    Raises:
        ValueError: ``threshold`` is out of range.
        RuntimeError: glibc refuses the setting.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise ValueError(
            f"malloc_mmap_threshold must be an integer number of bytes, got "
            f"{threshold!r}"
        )
    if not 1 <= threshold <= MAX_MMAP_THRESHOLD:
        raise ValueError(
            f"malloc_mmap_threshold must be 1 to {MAX_MMAP_THRESHOLD} bytes "
            f"(glibc's maximum), got {threshold}"
        )
    libc = _glibc()
    if libc is None:
        print_log(
            "env_cfg.malloc_mmap_threshold is a glibc malloc setting and this "
            "process's C library is not glibc: the setting has no effect",
            logger="current",
            level=logging.WARNING,
        )
        return
    for param, value in (
        (M_MMAP_THRESHOLD, threshold),
        (M_TRIM_THRESHOLD, 2 * threshold),
    ):
        if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:
            raise RuntimeError(f"glibc's mallopt({param}, {value}) failed")


def apply_malloc_cfg(cfg: Config) -> None:
    """Apply ``cfg.env_cfg.malloc_mmap_threshold`` (bytes; None or absent:
    glibc's defaults) to this process."""
    threshold = cfg.get("env_cfg", {}).get("malloc_mmap_threshold")
    if threshold is not None:
        set_malloc_mmap_threshold(threshold)
