"""An epoch-based training loop that resumes from the middle of an epoch."""

import itertools
from typing import Iterable, Iterator

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import LOOPS
from torch.utils.data import BatchSampler, Sampler


class _SkipFirst(Sampler):
    """``sampler`` without its first ``skip`` indices; its length stays the
    full epoch's, so ``len(dataloader)`` keeps counting the whole epoch."""

    def __init__(self, sampler: Sampler, skip: int) -> None:
        self.sampler = sampler
        self.skip = skip

    def __iter__(self) -> Iterator:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return len(self.sampler)


def iteration_text(runner, batch_idx: int) -> str:
    """The training iteration in progress, for messages: ``iteration N
    (epoch E, batch B of L)``, or ``iteration N of M`` for an
    iteration-based loop."""
    step = runner.iter + 1
    if isinstance(runner.train_loop, EpochBasedTrainLoop):
        return (
            f"iteration {step} (epoch {runner.epoch + 1}, batch {batch_idx + 1} "
            f"of {len(runner.train_dataloader)})"
        )
    return f"iteration {step} of {runner.max_iters}"


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` (same arguments) that continues a
    run resumed from a mid-epoch checkpoint at the next batch of that epoch.

    mmengine's loop restores the iteration counter of a checkpoint but starts
    the epoch over from its first batch: a run resumed from a checkpoint
    written after ``k`` batches of an epoch trains ``k`` batches too many
    (and the schedule overshoots). Here the resumed epoch starts at batch
    ``k`` (the batch index the hooks see counts from ``k`` too), so a run
    interrupted mid-epoch (:class:`~mtcp.engine.hooks.PreemptionHook`) and
    resumed trains exactly the batches the straight run trains. Runs that
    start from scratch or from an end-of-epoch checkpoint are unchanged.

    The first ``k`` batches are skipped without being loaded when the
    dataloader uses PyTorch's ``BatchSampler`` (what mmengine builds from a
    ``sampler`` config): their indices are dropped from the sampler for that
    epoch. With another batch sampler they are loaded and discarded. With
    :class:`~mtcp.datasets.SeededSampler` the remaining batches are the
    straight run's, augmentation included.
    """

    def run_epoch(self) -> None:
        """Iterate the epoch, from the batch a resumed checkpoint reached."""
        self.runner.call_hook("before_train_epoch")
        self.runner.model.train()
        start = self._iter - self._epoch * len(self.dataloader)
        if not 0 <= start <= len(self.dataloader):
            raise RuntimeError(
                f"The resumed checkpoint is at iteration {self._iter} of epoch "
                f"{self._epoch + 1}, but an epoch has {len(self.dataloader)} "
                "iterations now: was the training set or the batch size "
                "changed? Resume with the configuration that wrote it."
            )
        for idx, data_batch in enumerate(self._batches_from(start), start):
            self.run_iter(idx, data_batch)
        self.runner.call_hook("after_train_epoch")
        self._epoch += 1

    def _batches_from(self, start: int) -> Iterable:
        """The batches of this epoch from index ``start`` on."""
        if start == 0:
            yield from self.dataloader
            return
        if start == len(self.dataloader):
            # interrupted after the epoch's last batch, before its end
            return
        print_log(
            f"Resuming epoch {self._epoch + 1} at its batch {start + 1} of "
            f"{len(self.dataloader)}",
            logger="current",
        )
        batch_sampler = getattr(self.dataloader, "batch_sampler", None)
        if type(batch_sampler) is not BatchSampler:
            print_log(
                f"The dataloader's batch sampler is "
                f"{type(batch_sampler).__name__}, not PyTorch's BatchSampler: "
                f"the first {start} batches are loaded and discarded",
                logger="current",
            )
            yield from itertools.islice(self.dataloader, start, None)
            return
        sampler = batch_sampler.sampler
        batch_sampler.sampler = _SkipFirst(sampler, start * batch_sampler.batch_size)
        try:
            yield from self.dataloader
        finally:
            batch_sampler.sampler = sampler
