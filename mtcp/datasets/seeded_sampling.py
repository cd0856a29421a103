"""Random augmentation that depends on (seed, epoch, sample index) only.

:class:`SeededSampler` is mmengine's ``DefaultSampler`` (same order, same
arguments) whose indices are :class:`SampleKey` objects: an ``int`` that
also carries the sampler's seed and the epoch. A dataset with
:class:`SeededAugmentationMixin` runs its pipeline for such a key inside
:func:`~mtcp.utils.seeding.isolated_global_rngs` seeded from
``(seed, epoch, index)``, so the random transforms of a sample (mmcv's and
mmseg's, which draw from ``np.random`` and ``random``, as well as mtcp's)
give the same result in whichever worker process, with any number of
workers, persistent or not, in a straight or a resumed run, and a different
one in every epoch. The epoch travels with the index, from the sampler in
the main process to the workers, so nothing has to reach the workers
otherwise.
"""

from typing import Iterator

from mmengine.dataset import DefaultSampler
from mmseg.registry import DATA_SAMPLERS

from mtcp.utils.seeding import isolated_global_rngs


class SampleKey(int):
    """A dataset index carrying the seed and epoch of its augmentation.

    It is an ``int`` (list indexing, arithmetic and logging see the index),
    so datasets without :class:`SeededAugmentationMixin` read it as the plain
    index.

    Args:
        index (int): The dataset index.
        seed (int): The sampler's seed.
        epoch (int): The epoch being sampled.
    """

    seed: int
    epoch: int

    def __new__(cls, index: int, seed: int, epoch: int) -> "SampleKey":
        key = super().__new__(cls, index)
        key.seed = int(seed)
        key.epoch = int(epoch)
        return key

    def __reduce__(self):
        return (SampleKey, (int(self), self.seed, self.epoch))

    def __repr__(self) -> str:
        return f"SampleKey(index={int(self)}, seed={self.seed}, epoch={self.epoch})"

    @property
    def entropy(self) -> tuple:
        """``(seed, epoch, index)``: what the sample's random draws depend on."""
        return (self.seed, self.epoch, int(self))


class SeededAugmentationMixin:
    """Run the pipeline of a :class:`SampleKey` with the global generators
    seeded from the key (see the module docstring).

    Put it before mmengine's ``BaseDataset`` in the bases. A plain ``int``
    index is served as by ``BaseDataset`` (validation, testing, tools).
    """

    def __getitem__(self, idx):
        if not isinstance(idx, SampleKey):
            return super().__getitem__(idx)
        with isolated_global_rngs(idx.entropy):
            return super().__getitem__(int(idx))


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """``DefaultSampler`` whose indices carry the seed of the sample's
    random augmentation: ``(seed, epoch, index)``.

    The order is ``DefaultSampler``'s (shuffled from ``seed + epoch``); the
    epoch is set by ``DistSamplerSeedHook`` (or the iteration-based loop) at
    the start of each epoch. The seed is the runner's ``randomness.seed``
    (mmengine passes it to samplers) unless given; in distributed training
    every rank has the same seed, so a sample's augmentation does not depend
    on the number of processes either.

    Args:
        dataset (Sized): A dataset with :class:`SeededAugmentationMixin`.
        shuffle (bool): Shuffle the indices. Defaults to True.
        seed (int, optional): Seed of the order and the augmentation.
        round_up (bool): ``DefaultSampler``'s padding to a multiple of the
            world size. Defaults to True.
    """

    def __init__(self, dataset, shuffle: bool = True, seed=None, round_up=True):
        if not isinstance(dataset, SeededAugmentationMixin):
            raise TypeError(
                f"SeededSampler needs a dataset that seeds its pipeline from the "
                f"sampled keys (one with SeededAugmentationMixin, e.g. every mtcp "
                f"dataset); got {type(dataset).__name__}: use DefaultSampler for it"
            )
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)

    def __iter__(self) -> Iterator[SampleKey]:
        seed, epoch = self.seed, self.epoch
        return (SampleKey(index, seed, epoch) for index in super().__iter__())
