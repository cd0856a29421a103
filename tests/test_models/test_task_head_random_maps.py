"""The random label and prediction maps each task head makes for the
benchmarks' synthetic batches."""

import pytest
import torch
from test_task_heads import head as build_head
from test_task_heads import meta

import mtcp  # noqa: F401  (registers the modules)
from mtcp.models.heads import task_head_type
from mtcp.structures import TASKS


@pytest.mark.parametrize("task", sorted(TASKS))
def test_random_label_is_fully_labelled_and_valid(task):
    info = TASKS[task]
    head = task_head_type(info.kind)
    generator = torch.Generator().manual_seed(0)
    label = head.random_label(5, (6, 7), generator)
    assert label.shape == (info.label_channels, 6, 7)
    # every pixel labelled, as the head's loss sees it
    assert bool(build_head(info.kind, 1).labelled(label[None]).all())
    if info.kind == "class":
        assert label.dtype == torch.int64 and 0 <= label.min() and label.max() < 5
    if info.kind == "binary":
        assert set(label.unique().tolist()) == {0, 1}
    if info.kind == "depth":
        assert 0.5 <= label.min() and label.max() <= 10.0
    if info.kind == "normals":
        torch.testing.assert_close(label.norm(dim=0), torch.ones(6, 7))
    # seeded: the same generator state gives the same map
    again = head.random_label(5, (6, 7), torch.Generator().manual_seed(0))
    assert torch.equal(label, again)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_random_prediction_has_the_layout_of_predict_by_feat(task):
    info = TASKS[task]
    head = task_head_type(info.kind)
    pred = head.random_prediction(5, (6, 7), torch.Generator().manual_seed(0))
    channels = 5 if head.fixed_channels is None else head.fixed_channels
    # what predict_by_feat makes of random logits of the head's channels
    logits = torch.randn(1, channels, 6, 7, generator=torch.Generator().manual_seed(1))
    expected = build_head(info.kind, channels).predict_by_feat(logits, meta((6, 7)))
    assert pred.shape == expected.shape and pred.dtype == expected.dtype
    if info.kind == "binary":
        assert 0 <= pred.min() and pred.max() < 1
