"""The demo job end to end, as a user runs it: train (interrupted, then
resumed), test, infer and plot, through the real scripts in subprocesses.

The run is the demo config shortened (fewer scenes and epochs); it must still
beat predicting the majority class / the mean depth / the mean normal on the
validation scenes.
"""

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import DATASETS
from script_runner import logged_metrics, run_script

from mtcp.evaluation.metrics import MultiTaskMetric

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "mtcp_demo.py")
SHORT = [
    "train_dataloader.dataset.num_samples=160",
    "val_dataloader.dataset.num_samples=16",
    "train_cfg.val_interval=1",
]
METRICS = ("semseg/mIoU", "depth/rmse", "normals/mean")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("demo")
    # an interrupted run: 2 of the 4 epochs
    first = run_script(
        ["tools/train.py", CONFIG, "--work-dir", str(work_dir), "--cfg-options"]
        + SHORT
        + ["train_cfg.max_epochs=2"]
    )
    resumed = run_script(
        ["tools/train.py", CONFIG, "--work-dir", str(work_dir), "--resume"]
        + ["--cfg-options"]
        + SHORT
        + ["train_cfg.max_epochs=4"]
    )
    return dict(work_dir=work_dir, first=first, resumed=resumed)


def chance_scores() -> dict:
    """Scores of predicting the training set's majority class, mean depth and
    mean normal everywhere, on the shortened demo's validation scenes."""
    cfg = Config.fromfile(CONFIG)
    train = DATASETS.build(
        dict(
            cfg.train_dataloader.dataset,
            num_samples=160,
            pipeline=[dict(type="PackMultiTaskInputs")],
        )
    )
    val = DATASETS.build(dict(cfg.val_dataloader.dataset, num_samples=16))
    counts, depth_sum, depth_n, normal_sum = 0, 0.0, 0, 0
    num_classes = len(train.metainfo["classes"])
    for i in range(len(train)):
        sample = train[i]["data_samples"]
        seg = sample.gt_sem_seg.data.flatten()
        counts = counts + torch.bincount(seg[seg != 255], minlength=num_classes)
        depth = sample.gt_depth.data
        depth_sum += depth[depth > 0].sum().item()
        depth_n += (depth > 0).sum().item()
        normal_sum = normal_sum + sample.gt_normals.data.flatten(1).sum(1)
    mean_normal = normal_sum / normal_sum.norm()
    metric = MultiTaskMetric(tasks=["semseg", "depth", "normals"])
    metric.dataset_meta = val.metainfo
    for i in range(len(val)):
        sample = val[i]["data_samples"]
        h, w = sample.ori_shape
        sample.pred_sem_seg = PixelData(data=torch.full((1, h, w), counts.argmax()))
        sample.pred_depth = PixelData(data=torch.full((1, h, w), depth_sum / depth_n))
        sample.pred_normals = PixelData(
            data=mean_normal.float().view(3, 1, 1).expand(3, h, w).clone()
        )
        metric.process({}, [sample.to_dict()])
    return metric.evaluate(len(val))


def test_interrupted_run_resumes_from_its_last_checkpoint(demo_run):
    assert "Resumed checkpoint" in demo_run["resumed"] or re.search(
        r"resumed? (from )?(checkpoint|epoch)", demo_run["resumed"], re.I
    ), demo_run["resumed"][-3000:]
    # the resumed run trained epochs 3 and 4 only
    assert "Epoch(train) [1]" not in demo_run["resumed"]
    assert "Epoch(train) [3]" in demo_run["resumed"]
    assert (demo_run["work_dir"] / "epoch_4.pth").exists()
    # the LPS weights came back with the checkpoint: period 2 was the last
    # update of the first run, period 3 is the first of the resumed one
    assert "Task weighting period 3" in demo_run["resumed"]
    assert "Task weighting period 2" not in demo_run["resumed"]


def test_trained_demo_beats_chance(demo_run):
    trained = logged_metrics(demo_run["resumed"], "val")
    chance = chance_scores()
    assert trained["semseg/mIoU"] > chance["semseg/mIoU"] + 5, (trained, chance)
    # seeds 0-2 of this run gave RMSE 0.78-0.82 m and delta1 0.86-0.88
    # against 1.11 m and 0.66
    assert trained["depth/rmse"] < 0.9 * chance["depth/rmse"], (trained, chance)
    assert trained["depth/delta1"] > chance["depth/delta1"] + 0.1, (trained, chance)
    assert trained["normals/mean"] < chance["normals/mean"] - 3, (trained, chance)


def test_test_script_reproduces_the_logged_validation(demo_run, tmp_path):
    work_dir = demo_run["work_dir"]
    logged = logged_metrics(demo_run["resumed"], "val")
    out = run_script(
        [
            "tools/test.py",
            CONFIG,
            str(work_dir / "epoch_4.pth"),
            "--work-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "preds"),
            "--cfg-options",
            "test_dataloader.dataset.num_samples=16",
        ]
    )
    tested = logged_metrics(out, "test")
    for key in METRICS:
        assert tested[key] == pytest.approx(logged[key], abs=1e-3), key
    # predictions in the dataset formats, one per validation scene
    assert len(list((tmp_path / "preds" / "depth").glob("*.npy"))) == 16
    assert len(list((tmp_path / "preds" / "semseg").glob("*.png"))) == 16


def test_infer_writes_panels(demo_run, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        cv2.imwrite(str(images / f"{name}.png"), rng.integers(0, 255, (60, 80, 3)))
    out = tmp_path / "out"
    run_script(
        [
            "tools/infer.py",
            CONFIG,
            str(demo_run["work_dir"] / "epoch_4.pth"),
            str(images),
            "--out-dir",
            str(out),
            "--device",
            "cpu",
        ]
    )
    panel = cv2.imread(str(out / "panels" / "a.png"))
    assert panel is not None
    # input + 3 tasks side by side, at the image's size
    assert panel.shape[0] >= 60 and panel.shape[1] >= 4 * 80
    depth = np.load(out / "depth" / "b.npy")
    assert depth.shape[-2:] == (60, 80) and (depth >= 0).all()


def test_plot_tool_draws_the_curves_of_the_run(demo_run, tmp_path):
    png = tmp_path / "curves.png"
    run_script(
        [
            "tools/analysis_tools/analyze_logs.py",
            str(demo_run["work_dir"]),
            "--out",
            str(png),
        ]
    )
    assert cv2.imread(str(png)) is not None
    scalars = sorted(demo_run["work_dir"].glob("*/vis_data/scalars.json"))
    records = [json.loads(line) for path in scalars for line in open(path)]
    weights = [r for r in records if "weight/semseg" in r]
    assert len(weights) == 4  # one LPS update per epoch
    for r in weights:
        total = sum(r[f"weight/{t}"] for t in ("semseg", "depth", "normals"))
        assert total == pytest.approx(3.0, abs=1e-4)
