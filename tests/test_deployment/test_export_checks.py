"""What the export refuses, and the JSON it writes, without exporting."""

from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mtcp.apis import init_model
from mtcp.deployment import check_exportable_pipeline, deploy_meta, output_names

DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "mtcp_demo.py")
RANGE = dict(height=[64, 8192], width=[64, 8192])


def test_a_resizing_test_pipeline_is_refused():
    cfg = Config.fromfile(DEMO)
    check_exportable_pipeline(cfg, "demo.py")
    pipeline = cfg.test_dataloader.dataset.pipeline
    pipeline.insert(0, dict(type="MultiTaskResize", scale=(64, 48)))
    with pytest.raises(
        ValueError, match=r"demo\.py: the test pipeline has MultiTaskResize"
    ):
        check_exportable_pipeline(cfg, "demo.py")


def test_meta_follows_the_preprocessor_and_dataset():
    torch.manual_seed(0)
    cfg = Config.fromfile(DEMO)
    cfg.model.data_preprocessor.update(bgr_to_rgb=False, size_divisor=16)
    model = init_model(cfg)
    meta = deploy_meta(model, "dir/m.onnx", RANGE, False, reduce_zero_label=True)
    assert meta["onnx_file"] == "m.onnx" and meta["input"] == "image"
    pre = meta["preprocess"]
    assert pre["channel_order"] == "bgr" and pre["size_divisor"] == 16
    assert pre["input_range"] == RANGE
    semseg = meta["tasks"][0]
    assert semseg["probs"] is None and semseg["class_offset"] == 1
    assert semseg["classes"] == list(model.dataset_meta["classes"])
    assert [t["format"] for t in meta["tasks"]] == ["class", "depth", "normals"]
    assert [t["channels"] for t in meta["tasks"]] == [5, 1, 3]


def test_a_fixed_padding_size_is_refused():
    cfg = Config.fromfile(DEMO)
    cfg.model.data_preprocessor.size = (96, 128)
    model = init_model(cfg)
    with pytest.raises(ValueError, match=r"pads every image to \(96, 128\)"):
        deploy_meta(model, "m.onnx", RANGE, False, False)


def test_output_names():
    tasks = ["depth", "semseg", "parts", "saliency"]
    assert output_names(tasks) == tasks
    assert output_names(tasks, class_probs=True) == [
        "depth",
        "semseg",
        "semseg_prob",
        "parts",
        "parts_prob",
        "saliency",
    ]
