"""Seed every training iteration from (seed, iteration)."""

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.hooks.hook import DATA_BATCH
from mmseg.registry import HOOKS

from mtcp.datasets import SeededSampler
from mtcp.utils.seeding import seed_global_rngs

# Last entropy word of these seeds: keeps them apart from the samples'
# ``(seed, epoch, index)`` (a SeedSequence ignores trailing zero words).
_ITER_TAG = 1


@HOOKS.register_module()
class IterSeedHook(Hook):
    """Seed numpy's, Python's and torch's global generators before every
    training iteration from ``(seed, iteration)``.

    Stochastic layers (drop path, dropout) and any other random operation of
    a training step draw from the global generators. mmengine seeds them once
    when the runner starts and does not store their state in checkpoints, so
    after ``--resume`` they would differ from the straight run; the number of
    draws made elsewhere in the process (data loader iterators, validation)
    would shift them too. Seeded here, what a step draws depends on the
    runner's seed and the iteration number only. The seed is
    ``randomness.seed`` (restored from the checkpoint on resume); with
    ``randomness.diff_rank_seed=True`` the rank is mixed in as well.

    Data augmentation is seeded per sample instead, by
    :class:`~mtcp.datasets.SeededSampler`.
    """

    priority = "VERY_HIGH"

    def before_train(self, runner) -> None:
        """Give the training sampler the seed a resume restored.

        The sampler is built before ``--resume`` loads the checkpoint, with
        the runner's seed at that time (a fresh random one when the config
        sets no ``randomness.seed``); the Runner then takes the checkpoint's
        seed. Without this the resumed epochs would be ordered and augmented
        from another seed than the straight run's.
        """
        sampler = getattr(runner.train_dataloader, "sampler", None)
        if isinstance(sampler, SeededSampler) and sampler.seed != runner.seed:
            sampler.seed = runner.seed

    def before_train_iter(
        self, runner, batch_idx: int, data_batch: DATA_BATCH = None
    ) -> None:
        randomness = runner.cfg.get("randomness") or {}
        rank = get_rank() if randomness.get("diff_rank_seed", False) else 0
        seed_global_rngs((runner.seed, runner.iter, rank, _ITER_TAG))
