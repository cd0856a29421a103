"""SeededSampler + SeededAugmentationMixin: augmentation seeded from
(seed, epoch, index), whatever the worker, the number of workers or what the
process drew before."""

import pickle
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

from mtcp.datasets import SampleKey, SeededSampler, SyntheticScenesDataset

SIZE = (32, 48)
# the demo's random transforms at a small size; PhotoMetricDistortion is
# mmseg's own (numpy's global generator)
PIPELINE = [
    dict(type="MultiTaskRandomResize", scale=(48, 32), ratio_range=(0.75, 1.5)),
    dict(type="MultiTaskRandomCrop", crop_size=SIZE, cat_max_ratio=0.75),
    dict(type="MultiTaskRandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="MultiTaskPad", size=SIZE),
    dict(type="PackMultiTaskInputs"),
]


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope("mmseg")


def make_dataset(num_samples: int = 6) -> SyntheticScenesDataset:
    return SyntheticScenesDataset(
        "nyud", num_samples=num_samples, img_size=SIZE, seed=3, pipeline=PIPELINE
    )


def test_sample_key_is_the_index_and_survives_pickling():
    key = SampleKey(5, seed=7, epoch=2)
    assert key == 5 and [10, 11, 12, 13, 14, 15][key] == 15
    copy = pickle.loads(pickle.dumps(key))
    assert isinstance(copy, SampleKey)
    assert (int(copy), copy.seed, copy.epoch) == (5, 7, 2)
    assert copy.entropy == (7, 2, 5)
    assert repr(copy) == "SampleKey(index=5, seed=7, epoch=2)"


def test_sampler_order_is_default_samplers_with_keys():
    dataset = make_dataset(10)
    seeded = SeededSampler(dataset, shuffle=True, seed=4)
    plain = DefaultSampler(dataset, shuffle=True, seed=4)
    for epoch in (0, 3):
        seeded.set_epoch(epoch)
        plain.set_epoch(epoch)
        keys = list(seeded)
        assert [int(k) for k in keys] == list(plain)
        assert all(isinstance(k, SampleKey) for k in keys)
        assert {(k.seed, k.epoch) for k in keys} == {(4, epoch)}


def test_sampler_refuses_a_dataset_that_ignores_the_keys():
    with pytest.raises(TypeError, match="SeededSampler needs .* got list"):
        SeededSampler(list(range(4)), seed=0)


def test_item_depends_on_seed_epoch_and_index_only():
    dataset = make_dataset()
    np.random.seed(0)
    first = dataset[SampleKey(2, seed=1, epoch=0)]
    # other draws before, and another worker's dataset object
    np.random.seed(123)
    random.seed(5)
    torch.manual_seed(9)
    again = make_dataset()[SampleKey(2, seed=1, epoch=0)]
    assert torch.equal(first["inputs"], again["inputs"])
    assert torch.equal(
        first["data_samples"].gt_depth.data, again["data_samples"].gt_depth.data
    )
    other_epoch = dataset[SampleKey(2, seed=1, epoch=1)]
    other_seed = dataset[SampleKey(2, seed=2, epoch=0)]
    assert not torch.equal(first["inputs"], other_epoch["inputs"])
    assert not torch.equal(first["inputs"], other_seed["inputs"])


def test_item_leaves_the_global_generators_as_they_were():
    dataset = make_dataset()
    np.random.seed(11)
    random.seed(11)
    torch.manual_seed(11)
    expected = (np.random.rand(), random.random(), torch.rand(1).item())
    np.random.seed(11)
    random.seed(11)
    torch.manual_seed(11)
    dataset[SampleKey(0, seed=0, epoch=0)]
    assert (np.random.rand(), random.random(), torch.rand(1).item()) == expected


def epochs_of_batches(num_workers: int, persistent: bool = False) -> list:
    dataset = make_dataset()
    sampler = SeededSampler(dataset, shuffle=True, seed=0)
    loader = DataLoader(
        dataset,
        batch_size=2,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=persistent,
        collate_fn=pseudo_collate,
    )
    epochs = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        epochs.append([torch.stack(batch["inputs"]) for batch in loader])
    return epochs


def test_batches_do_not_depend_on_the_workers():
    reference = epochs_of_batches(num_workers=0)
    for workers, persistent in ((2, False), (2, True)):
        epochs = epochs_of_batches(workers, persistent)
        for got, want in zip(epochs, reference):
            assert all(torch.equal(g, w) for g, w in zip(got, want))
