"""Data workers that live through a signal meant for the training process.

Slurm signals every process of a job step, the data workers included.
PyTorch's workers die of a SIGTERM that does not come from their parent,
and the training process then fails at its next batch (or at once, in its
SIGCHLD handler) before it can write its checkpoint. While training, the
workers of :class:`WorkerSignals` ignore the signals the training process
acts on, except once the training process is exiting: then a SIGTERM (from
``multiprocessing``'s clean-up, which terminates the daemonic workers it
finds) ends them, as it ends PyTorch's workers.
"""

import atexit
import multiprocessing
import os
import signal
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple


def _handle_in_worker(exiting, signum: int, frame) -> None:
    if exiting.is_set():
        os._exit(0)


def init_worker(
    init_fn: Optional[Callable], signals: Sequence[int], exiting, worker_id: int
) -> None:
    """The ``worker_init_fn`` of a protected dataloader."""
    handler = partial(_handle_in_worker, exiting)
    for sig in signals:
        signal.signal(sig, handler)
    if init_fn is not None:
        init_fn(worker_id)


class WorkerSignals:
    """Make the workers of some dataloaders ignore ``signals`` until the
    process that started them exits.

    Args:
        signals (Sequence[int]): The signals the training process handles.
    """

    def __init__(self, signals: Sequence[int]) -> None:
        self.signals = tuple(signals)
        self._exiting = multiprocessing.Event()
        # atexit runs the last registered first: this is set before
        # multiprocessing terminates the daemonic workers left
        atexit.register(self._exiting.set)
        self._loaders: List[Tuple[object, Optional[Callable]]] = []

    def protect(self, loaders) -> None:
        """Wrap the ``worker_init_fn`` of ``loaders`` (applies to the
        workers they start from now on)."""
        for loader in loaders:
            original = loader.worker_init_fn
            loader.worker_init_fn = partial(
                init_worker, original, self.signals, self._exiting
            )
            self._loaders.append((loader, original))

    def release(self) -> None:
        """Give the dataloaders their own ``worker_init_fn`` back."""
        for loader, original in self._loaders:
            loader.worker_init_fn = original
        self._loaders = []
