"""Stop training with a resumable checkpoint when a signal announces the end
of the job (cluster pre-emption, time limit)."""

import signal
import threading
from typing import Dict, Optional, Sequence

import torch.distributed as torch_dist
from mmengine.hooks import Hook
from mmengine.hooks.hook import DATA_BATCH
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import HOOKS

from mtcp.engine.hooks.atomic_checkpoint_hook import AtomicCheckpointHook
from mtcp.engine.hooks.worker_signals import WorkerSignals
from mtcp.engine.loops import ResumableEpochBasedTrainLoop, iteration_text
from mtcp.engine.rank_agreement import any_rank, control_group, is_distributed

#: Exit status of a run stopped by :class:`PreemptionHook` once its
#: checkpoint is written: ``EX_TEMPFAIL`` of sysexits.h ("temporary failure,
#: try again later"), the cue for a job script to requeue the job.
EXIT_PREEMPTED = 75
# Signals that cannot be caught.
_UNCATCHABLE = ("SIGKILL", "SIGSTOP")


class TrainingInterrupted(SystemExit):
    """Raised by :class:`PreemptionHook` after its checkpoint is written.

    A ``SystemExit`` with code :data:`EXIT_PREEMPTED`: uncaught, the process
    exits with that status and no traceback (the hook has logged why).

    Attributes:
        checkpoint (str): The checkpoint to resume from.
    """

    def __init__(self, message: str, checkpoint: str) -> None:
        super().__init__(EXIT_PREEMPTED)
        self.message = message
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        return self.message


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On SIGTERM or SIGUSR1 (configurable), finish the current training
    iteration, write a resumable checkpoint and exit with status 75.

    Slurm sends SIGTERM before it kills a job (pre-emption, ``scancel``, the
    time limit) and, with ``sbatch --signal=USR1@<seconds>``, SIGUSR1 that
    many seconds before the time limit; torchrun forwards SIGTERM to its
    workers. From ``before_train`` to ``after_train`` this hook's handler
    only records the signal; at the end of the iteration in progress (or of
    the next one, if the signal came during validation) the hook writes
    ``iter_<N>.pth`` through :meth:`AtomicCheckpointHook.save_interrupted`
    (model, optimizer, schedulers, message hub with the task-weighting
    state, epoch and iteration; ``last_checkpoint`` names it) and raises
    :class:`TrainingInterrupted` (exit status :data:`EXIT_PREEMPTED`).
    ``tools/train.py --resume`` continues from that iteration; with
    :class:`~mtcp.engine.ResumableEpochBasedTrainLoop` and
    :class:`~mtcp.datasets.SeededSampler` it trains exactly the batches the
    uninterrupted run would have.

    The data workers of the training and validation dataloaders ignore
    these signals (:class:`~mtcp.engine.hooks.worker_signals.WorkerSignals`):
    Slurm signals every process of a job step, and a PyTorch worker killed
    by SIGTERM would make training fail before the checkpoint is written.

    A second signal while the first is pending acts as if this hook were not
    there (by default it ends the process). The previous handlers are
    restored after training and before the hook exits. Without an
    ``AtomicCheckpointHook`` among the runner's hooks this hook warns and
    does nothing. In distributed training the ranks reduce the flag every
    ``sync_interval`` iterations, so a signal delivered to one rank stops
    every rank at the same iteration; rank 0 writes the checkpoint, the
    others wait for it before they exit.

    Args:
        signals (Sequence[str]): Names of the signals that stop training.
            Defaults to ``('SIGTERM', 'SIGUSR1')``.
        sync_interval (int): In distributed training, agree on a stop every
            this many iterations (one all-reduce of one integer over gloo).
            Defaults to 1.
    """

    priority = "LOWEST"

    def __init__(
        self, signals: Sequence[str] = ("SIGTERM", "SIGUSR1"), sync_interval: int = 1
    ) -> None:
        if isinstance(signals, str):
            signals = [signals]
        names = [s.name for s in signal.Signals if s.name not in _UNCATCHABLE]
        unknown = [s for s in signals if s not in names]
        if unknown or not signals:
            raise ValueError(
                f"PreemptionHook: signals must be names of signals that can be "
                f"caught, e.g. ('SIGTERM', 'SIGUSR1'); got {list(signals)}"
                + (f" ({unknown} are not)" if unknown else "")
            )
        if isinstance(sync_interval, bool) or not isinstance(sync_interval, int):
            raise ValueError(
                f"sync_interval must be an int >= 1, got {sync_interval!r}"
            )
        if sync_interval < 1:
            raise ValueError(f"sync_interval must be an int >= 1, got {sync_interval}")
        self.signals = [signal.Signals[s] for s in signals]
        self.sync_interval = sync_interval
        self._received: Optional[str] = None
        self._previous: Dict[signal.Signals, object] = {}
        self._workers: Optional[WorkerSignals] = None
        self._checkpoint_hook: Optional[AtomicCheckpointHook] = None

    def before_train(self, runner) -> None:
        self._received = None
        self._checkpoint_hook = None
        self._check_loop(runner)
        found = [h for h in runner.hooks if isinstance(h, AtomicCheckpointHook)]
        if not found:
            runner.logger.warning(
                "PreemptionHook writes its checkpoint through AtomicCheckpointHook, "
                "which this runner lacks (default_hooks.checkpoint): signals end "
                "training as if the hook were not there."
            )
            return
        self._checkpoint_hook = found[0]
        control_group()
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning(
                "PreemptionHook: training runs outside the main thread, where "
                "signal handlers cannot be set; a signal ends it without a "
                "checkpoint."
            )
            return
        for sig in self.signals:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)
        self._workers = WorkerSignals(self.signals)
        self._workers.protect(self._dataloaders(runner))

    @staticmethod
    def _dataloaders(runner) -> list:
        """The training and validation dataloaders (built by now)."""
        loaders = [runner.train_loop.dataloader]
        if runner.val_loop is not None:
            loaders.append(runner.val_loop.dataloader)
        return [loader for loader in loaders if hasattr(loader, "worker_init_fn")]

    @staticmethod
    def _check_loop(runner) -> None:
        loop = runner.train_loop
        if not isinstance(loop, EpochBasedTrainLoop) or isinstance(
            loop, ResumableEpochBasedTrainLoop
        ):
            return
        if runner.iter != runner.epoch * len(loop.dataloader):
            raise RuntimeError(
                f"The run resumed from a checkpoint written in the middle of epoch "
                f"{runner.epoch + 1} (iteration {runner.iter}), but "
                f"{type(loop).__name__} would train that epoch again from its "
                "first batch; resume with train_cfg.type="
                "'ResumableEpochBasedTrainLoop' (--cfg-options "
                "train_cfg.type=ResumableEpochBasedTrainLoop)"
            )
        runner.logger.warning(
            f"PreemptionHook: train_cfg.type is {type(loop).__name__}; a "
            "checkpoint written on a signal in the middle of an epoch will need "
            "train_cfg.type='ResumableEpochBasedTrainLoop' to be resumed."
        )

    def _handle(self, signum: int, frame) -> None:
        if self._received is not None:
            self._restore()
            signal.raise_signal(signum)
            return
        self._received = signal.Signals(signum).name

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous = {}
        if self._workers is not None:
            self._workers.release()

    def after_train_iter(
        self,
        runner,
        batch_idx: int,
        data_batch: DATA_BATCH = None,
        outputs: Optional[dict] = None,
    ) -> None:
        if self._checkpoint_hook is None:
            return
        if is_distributed():
            if not self.every_n_train_iters(runner, self.sync_interval):
                return
            stop = any_rank(self._received is not None)
        else:
            stop = self._received is not None
        if not stop:
            return
        received = self._received or "a signal received by another rank"
        step = runner.iter + 1
        runner.logger.warning(
            f"Stopping on {received}: writing a checkpoint of iteration {step}"
        )
        path = self._checkpoint_hook.save_interrupted(runner)
        if is_distributed():
            # rank 0 writes; the others exit once the file is complete
            torch_dist.barrier(group=control_group())
        self._restore()
        message = (
            f"Training stopped by {received} after "
            f"{iteration_text(runner, batch_idx)}. Resumable checkpoint: {path} "
            f"(named by {runner.work_dir}/last_checkpoint); continue with "
            f"tools/train.py and --resume. Exit status {EXIT_PREEMPTED}."
        )
        runner.logger.warning(message)
        raise TrainingInterrupted(message, path)

    def after_train(self, runner) -> None:
        self._restore()
