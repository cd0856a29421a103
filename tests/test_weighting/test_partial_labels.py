"""Weightings and the model with partially labelled batches: a task without
labelled pixels is left out of the total and of the period statistics."""

import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS

from mtcp.models.weighting import DWA, LPS, FixedWeights, UncertaintyWeighting
from mtcp.structures import TASKS, MultiTaskDataSample

TASKS2 = ["semseg", "depth"]


def step(weighting, semseg, depth, depth_labelled=True):
    losses = {
        "semseg.loss": torch.tensor(semseg, dtype=torch.float64),
        "depth.loss": torch.tensor(depth, dtype=torch.float64),
    }
    labelled = dict(semseg=torch.tensor(True), depth=torch.tensor(depth_labelled))
    return weighting(losses, labelled)


def test_period_mean_counts_only_labelled_iterations():
    weighting = FixedWeights(TASKS2, dict(semseg=1.0, depth=2.0)).train()
    total, _ = step(weighting, 2.0, 4.0)
    assert total.item() == pytest.approx(2.0 + 2.0 * 4.0)
    # depth has no labelled pixel: its (zero) loss is not part of the mean
    total, _ = step(weighting, 4.0, 0.0, depth_labelled=False)
    assert total.item() == pytest.approx(4.0)
    result = weighting.end_period()
    assert result["period_loss/semseg"] == pytest.approx(3.0)
    assert result["period_loss/depth"] == pytest.approx(4.0)


@pytest.mark.parametrize("cls", [LPS, DWA])
def test_period_without_labels_keeps_the_weights(cls):
    weighting = (cls(TASKS2, mode="prioritize") if cls is LPS else cls(TASKS2)).train()
    periods = [(2.0, 4.0, True), (1.0, 3.0, True), (1.0, 0.0, False), (0.5, 2.0, True)]
    weights = []
    for semseg, depth, labelled in periods:
        step(weighting, semseg, depth, labelled)
        result = weighting.end_period()
        weights.append(weighting.weights)
        assert all(math.isfinite(w) for w in weighting.weights)
    # the period without depth labels has no mean (NaN, not 0) and the
    # weights after it and after the next one (compared with it) stay put
    assert math.isnan(weighting.history[-2][1])
    assert weights[2] == weights[1] and weights[3] == weights[1]
    assert weights[1] != [1.0, 1.0]
    assert result["period_loss/depth"] == pytest.approx(2.0)


def test_dwa_period_mean_of_zero_does_not_end_the_run():
    weighting = DWA(TASKS2).train()
    for depth in (0.0, 1.0, 1.0):
        step(weighting, 1.0, depth)
        weighting.end_period()
    assert weighting.weights == [1.0, 1.0]


def test_uncertainty_leaves_unlabelled_log_variance_alone():
    weighting = UncertaintyWeighting(TASKS2).train()
    total, _ = step(weighting, 2.0, 0.0, depth_labelled=False)
    total.backward()
    # d/ds (exp(-s) L + s) = 1 - L at s = 0 for semseg; depth contributes 0
    assert weighting.log_variances.grad.tolist() == pytest.approx([-1.0, 0.0])
    assert total.item() == pytest.approx(2.0)


def test_state_keeps_per_task_counts_and_reads_old_layout():
    weighting = FixedWeights(TASKS2, dict(semseg=1.0, depth=1.0)).train()
    step(weighting, 2.0, 6.0)
    step(weighting, 4.0, 0.0, depth_labelled=False)
    state = weighting.get_extra_state()
    restored = FixedWeights(TASKS2, dict(semseg=1.0, depth=1.0)).train()
    restored.set_extra_state(state)
    assert restored.end_period() == weighting.end_period()
    assert restored.history == [[3.0, 6.0]]
    # a state written before the per-task counts: header (1 + 2 + 3 values),
    # weights (2), sums (2), no history; every iteration counted for all tasks
    old = torch.tensor([2, 0, 2, 2, 0, 0, 1.0, 1.0, 6.0, 6.0], dtype=torch.float64)
    restored.set_extra_state(old)
    assert restored.end_period()["period_loss/depth"] == pytest.approx(3.0)


def test_model_reports_unlabelled_tasks_and_keeps_losses_finite():
    torch.manual_seed(0)
    cfg = Config.fromfile(
        osp.join(osp.dirname(__file__), "../../configs/_base_/models/mtcp_tiny.py")
    )
    cfg.model.update(tasks=TASKS2, weighting=dict(type="LPS"))
    model = MODELS.build(cfg.model)
    model.init_weights()
    inputs, samples = [], []
    for index in range(2):
        sample = MultiTaskDataSample(
            metainfo=dict(ori_shape=(32, 32), img_shape=(32, 32))
        )
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, 32, 32)))
        # no depth label anywhere in the batch: all invalid
        sample.gt_depth = PixelData(data=torch.zeros(1, 32, 32))
        samples.append(sample)
        inputs.append(torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8))
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    losses = model(**data, mode="loss")
    assert {t: bool(v) for t, v in losses.labelled.items()} == dict(
        semseg=True, depth=False
    )
    assert all(v.item() == 0 for k, v in losses.items() if k.startswith("depth."))
    model.weighting.train()
    total, log_vars = model.parse_losses(losses)
    total.backward()
    assert math.isfinite(total.item())
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # the period statistics saw depth as absent, semseg as present
    assert model.weighting._period_counts == [1.0, 0.0]
    assert TASKS["depth"].gt_field in samples[0]
