"""MultiTaskMetric: driving the meters from data samples, keys, files, errors."""

import math

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from PIL import Image

from mtcp.evaluation import MultiTaskMetric
from mtcp.evaluation.metrics import multitask_metric
from mtcp.structures import MultiTaskDataSample
from mtcp.tasks import Boundary

H, W = 2, 3


def _sample(name, semseg_pred, depth_pred, parts_gt=None):
    """A sample as mmengine's Evaluator hands it over: a dict of dicts."""
    normals_gt = torch.zeros(3, H, W)
    normals_gt[2] = 1
    normals_pred = normals_gt.clone()
    normals_pred[:, 0, 0] = torch.tensor([1.0, 0.0, 0.0])  # 90 degrees
    parts_gt = torch.zeros(1, H, W, dtype=torch.long) if parts_gt is None else parts_gt
    return dict(
        img_path=f"data/images/{name}.jpg",
        ori_shape=(H, W),
        gt_sem_seg=dict(data=torch.tensor([[[0, 0, 1], [1, 2, 255]]])),
        pred_sem_seg=dict(data=semseg_pred),
        gt_depth=dict(data=torch.tensor([[[1.0, 2.0, 0.0], [4.0, 1.0, 1.0]]])),
        pred_depth=dict(data=depth_pred),
        gt_normals=dict(data=normals_gt),
        pred_normals=dict(data=normals_pred),
        gt_saliency=dict(data=torch.tensor([[[1, 1, 0], [0, 255, 0]]])),
        pred_saliency=dict(data=torch.tensor([[[0.9, 0.4, 0.6], [0.1, 0.99, 0.0]]])),
        gt_parts=dict(data=parts_gt),
        pred_parts=dict(data=torch.zeros(1, H, W, dtype=torch.long)),
    )


def make_samples():
    semseg = torch.tensor([[[0, 1, 1], [1, 2, 0]]])
    depth = torch.tensor([[[2.0, 2.0, 9.0], [3.0, 1.0, 1.0]]])
    return [
        _sample("a", semseg, depth),
        _sample("b", torch.zeros(1, H, W, dtype=torch.long), depth * 2),
        _sample("c", semseg, depth, parts_gt=torch.full((1, H, W), 255)),
    ]


def make_metric(**kwargs):
    metric = MultiTaskMetric(**kwargs)
    metric.dataset_meta = dict(
        classes=["wall", "floor", "bed", "sofa"], part_classes=["bg", "head"]
    )
    return metric


def run(metric, samples):
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_figures_and_keys():
    results = run(make_metric(), make_samples())
    assert sorted(results) == sorted(
        [f"semseg/{k}" for k in ("mIoU", "aAcc", "mAcc")]
        + [f"parts/{k}" for k in ("mIoU", "aAcc", "mAcc")]
        + [
            f"depth/{k}"
            for k in ("rmse", "abs_rel", "log_rmse", "delta1", "delta2", "delta3")
        ]
        + [f"normals/{k}" for k in ("mean", "median", "rmse", "11.25", "22.5", "30")]
        + ["saliency/maxF", "saliency/threshold"]
    )
    # semseg pooled over a, b, c: class 0: I = 1 + 2 + 1, P = 1 + 5 + 1, L = 6;
    # class 1: I = 2 + 0 + 2, P = 3 + 0 + 3, L = 6; class 2: I = 2, P = 2, L = 3
    iou = [4 / 9, 4 / 8, 2 / 3, 0.0]
    assert results["semseg/mIoU"] == pytest.approx(np.mean(iou) * 100)
    assert results["semseg/aAcc"] == pytest.approx(10 / 15 * 100)
    # parts: image c (all ignore) is skipped; a and b are all right, class 1
    # never appears -> IoU 0 under the protocol
    assert results["parts/mIoU"] == pytest.approx(50.0)
    # depth: per image (p, g) = (2, 1), (2, 2), (3, 4), (1, 1), (1, 1), b doubles p
    sq = (1 + 0 + 1 + 0 + 0) * 2 + (9 + 4 + 4 + 1 + 1)
    assert results["depth/rmse"] == pytest.approx(math.sqrt(sq / 15))
    # normals: one of six pixels at 90 degrees per image
    assert results["normals/mean"] == pytest.approx(15.0, abs=1e-5)
    assert results["normals/30"] == pytest.approx(500 / 6)
    # saliency: same image three times -> as test_saliency_hand_computed
    assert results["saliency/maxF"] == pytest.approx(1.3 * 0.5 / 0.8 * 100)


def test_data_sample_objects_and_task_selection():
    samples = []
    for sample in make_samples():
        data_sample = MultiTaskDataSample(metainfo=dict(img_path=sample["img_path"]))
        for field in ("gt_sem_seg", "pred_sem_seg", "gt_depth", "pred_depth"):
            setattr(data_sample, field, PixelData(data=sample[field]["data"]))
        samples.append(data_sample)
    # tasks=None scores what the samples predict
    results = run(make_metric(), samples)
    assert {k.split("/")[0] for k in results} == {"semseg", "depth"}
    expected = run(make_metric(tasks=["semseg", "depth"]), make_samples())
    assert results == pytest.approx(expected)
    only_depth = run(make_metric(tasks=["depth"]), make_samples())
    assert sorted({k.split("/")[0] for k in only_depth}) == ["depth"]


def test_delta_m_and_note_when_baselines_missing(monkeypatch):
    notes = []
    monkeypatch.setattr(
        multitask_metric, "print_log", lambda msg, **kwargs: notes.append(msg)
    )
    tasks = ["semseg", "depth", "normals"]
    results = run(make_metric(tasks=tasks), make_samples())
    assert "multitask/delta_m" not in results
    assert any("no `baselines` given" in note for note in notes)
    assert any("semseg results" in note and "wall" in note for note in notes)

    baselines = dict(semseg=50.0, depth=1.0, normals=20.0)
    full = run(make_metric(tasks=tasks, baselines=baselines), make_samples())
    expected = (
        (
            (full["semseg/mIoU"] - 50) / 50
            - (full["depth/rmse"] - 1) / 1
            - (full["normals/mean"] - 20) / 20
        )
        / 3
        * 100
    )
    assert full["multitask/delta_m"] == pytest.approx(expected)

    notes.clear()
    partial = run(make_metric(tasks=tasks, baselines=dict(semseg=50.0)), make_samples())
    assert "multitask/delta_m" not in partial
    assert any("no baseline for ['depth', 'normals']" in note for note in notes)


def test_absent_class_nan_and_num_classes_override():
    results = run(make_metric(tasks=["semseg"], absent_class="nan"), make_samples())
    assert results["semseg/mIoU"] == pytest.approx(np.mean([4 / 9, 4 / 8, 2 / 3]) * 100)
    metric = MultiTaskMetric(tasks=["semseg"], num_classes=dict(semseg=3))
    results = run(metric, make_samples())
    assert results["semseg/mIoU"] == pytest.approx(np.mean([4 / 9, 4 / 8, 2 / 3]) * 100)


def test_bad_input_is_named(monkeypatch):
    samples = make_samples()
    samples[1]["pred_depth"]["data"] = torch.ones(1, 4, 6)
    with pytest.raises(ValueError, match=r"b\.jpg: depth prediction has size \(4, 6\)"):
        make_metric(tasks=["depth"]).process({}, samples)

    samples = make_samples()
    del samples[2]["gt_normals"]
    with pytest.raises(KeyError, match=r"c\.jpg: task 'normals' needs `gt_normals`"):
        make_metric(tasks=["normals"]).process({}, samples)

    with pytest.raises(KeyError, match="Unknown task 'sal'"):
        MultiTaskMetric(tasks=["sal"])
    with monkeypatch.context() as patch:
        patch.setattr(Boundary, "has_meter", False)
        with pytest.raises(ValueError, match="'edge' has no metric"):
            MultiTaskMetric(tasks=["edge"])
    with pytest.raises(ValueError, match="how many parts classes"):
        MultiTaskMetric(tasks=["parts"]).process({}, make_samples())
    with pytest.raises(ValueError, match="baselines name \\['parts'\\]"):
        run(make_metric(tasks=["semseg"], baselines=dict(parts=60.0)), make_samples())
    with pytest.raises(ValueError, match="needs an output_dir"):
        MultiTaskMetric(format_only=True)


def test_format_only_saves_dataset_formats(tmp_path):
    samples = make_samples()
    samples[0]["pred_normals"]["data"][:, 1, 1] = torch.tensor([0.28, -0.96, 0.0])
    metric = make_metric(format_only=True, output_dir=str(tmp_path))
    assert run(metric, samples) == {}
    assert metric.results == []

    depth = np.load(tmp_path / "depth" / "b.npy")
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, samples[1]["pred_depth"]["data"][0].numpy())
    semseg = np.array(Image.open(tmp_path / "semseg" / "a.png"))
    assert semseg.dtype == np.uint8
    np.testing.assert_array_equal(semseg, [[0, 1, 1], [1, 2, 0]])
    normals = np.array(Image.open(tmp_path / "normals" / "a.png"))
    assert normals.shape == (H, W, 3) and normals.dtype == np.uint8
    # v = 255 (n + 1) / 2, channel 0 = x: (0.28, -0.96, 0) -> (163, 5, 128)
    np.testing.assert_array_equal(normals[1, 1], [163, 5, 128])
    np.testing.assert_allclose(
        2 * normals[1, 1].astype(float) / 255 - 1, [0.28, -0.96, 0], atol=0.005
    )
    saliency = np.array(Image.open(tmp_path / "saliency" / "c.png"))
    np.testing.assert_array_equal(saliency, [[230, 102, 153], [26, 252, 0]])
    assert (tmp_path / "parts" / "c.png").exists()


def test_output_dir_with_evaluation_and_reduce_zero_label(tmp_path):
    samples = make_samples()
    for sample in samples:
        sample["reduce_zero_label"] = True
    metric = make_metric(tasks=["semseg"], output_dir=str(tmp_path))
    assert "semseg/mIoU" in run(metric, samples)
    semseg = np.array(Image.open(tmp_path / "semseg" / "a.png"))
    np.testing.assert_array_equal(semseg, [[1, 2, 2], [2, 3, 1]])


def test_results_stay_two_entries_and_padding_is_dropped():
    """Memory per rank does not grow with the dataset; the sample a
    distributed sampler repeated at the end is left out by ``size``."""
    samples = make_samples()
    expected = run(make_metric(), samples)
    metric = make_metric()
    for sample in samples * 3:
        metric.process({}, [sample])
        assert len(metric.results) <= 2
    # one process: the repeated first sample after the 3 is padding
    padded = make_metric()
    padded.process({}, samples + samples[:1])
    assert padded.evaluate(len(samples)) == pytest.approx(expected)
    counted = make_metric()
    counted.process({}, samples + samples[:1])
    assert counted.evaluate(len(samples) + 1) != pytest.approx(expected)
    metric = make_metric()
    metric.process({}, samples * 2)
    with pytest.raises(ValueError, match="more than its last one would be padding"):
        metric.evaluate(len(samples))
