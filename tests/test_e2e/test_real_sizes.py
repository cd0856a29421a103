"""The paper configs and the field's standard 4- and 5-task settings train
through a validation and test at the real datasets' image sizes (PASCAL
375x500 and 333x500 in one batch, NYUD 61x83), with the tiny model, on fake
data in the exact on-disk layouts, through the scripts."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from script_runner import logged_metrics, run_script
from tool_loader import load_tool

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "model.backbone.arch=tiny",
    "model.backbone.init_cfg=None",
    "model.decoder.in_channels=32",
    "model.decoder.depths=(1,1,1)",
    "model.decoder.num_heads=(1,1,1)",
]
# Small training crops: steps 2, 3 and 6 of both configs' train pipelines.
SMALL_CROPS = [
    "train_dataloader.dataset.pipeline.2.scale=(96,96)",
    "train_dataloader.dataset.pipeline.3.crop_size=(64,64)",
    "train_dataloader.dataset.pipeline.6.size=(64,64)",
]
CASES = {
    "pascal": dict(
        config="configs/mtcp_pascal.py",
        sizes=[(375, 500), (333, 500)],
        # both sizes in one validation batch: padded together, scored apart
        val_batch=2,
        tasks=("semseg", "parts", "saliency"),
    ),
    "nyud": dict(
        config="configs/mtcp_nyud.py",
        sizes=[(61, 83)],
        val_batch=1,
        tasks=("semseg", "depth", "normals"),
    ),
    # the field's standard settings, with boundaries
    "pascal-5task": dict(
        config="configs/mtcp_pascal_5task.py",
        sizes=[(375, 500), (333, 500)],
        val_batch=2,
        tasks=("semseg", "parts", "saliency", "normals", "edge"),
    ),
    "nyud-4task": dict(
        config="configs/mtcp_nyud_4task.py",
        sizes=[(61, 83)],
        val_batch=1,
        tasks=("semseg", "depth", "normals", "edge"),
    ),
}


def loaders(root, val_batch):
    options = []
    for split in ("train", "val", "test"):
        prefix = f"{split}_dataloader"
        options += [
            f"{prefix}.dataset.data_root={root}",
            f"{prefix}.num_workers=0",
            f"{prefix}.persistent_workers=False",
        ]
    return options + [
        f"val_dataloader.batch_size={val_batch}",
        f"test_dataloader.batch_size={val_batch}",
    ]


@pytest.mark.parametrize("layout", sorted(CASES))
def test_train_validate_and_test_at_real_sizes(layout, tmp_path):
    case = CASES[layout]
    root = tmp_path / "data"
    load_tool("dataset_converters/make_fake_dataset.py").make_fake_dataset(
        str(root), layout.split("-")[0], num_train=2, num_val=2, img_size=case["sizes"]
    )
    options = TINY + loaders(root, case["val_batch"])
    work_dir = tmp_path / "work"
    train_log = run_script(
        ["tools/train.py", case["config"], "--work-dir", str(work_dir)]
        + ["--cfg-options"]
        + options
        + SMALL_CROPS
        + ["train_cfg.max_epochs=1", "train_cfg.val_interval=1"]
    )
    validated = logged_metrics(train_log, "val")
    preds = tmp_path / "preds"
    test_log = run_script(
        ["tools/test.py", case["config"], str(work_dir / "epoch_1.pth")]
        + ["--work-dir", str(tmp_path / "test"), "--out", str(preds)]
        + ["--cfg-options"]
        + options
    )
    tested = logged_metrics(test_log, "test")
    # the same weights on the same batches: the same figures, but for the
    # boundaries, validated with 9 thresholds and tested with the protocol's
    edge = {"edge/odsF", "edge/oisF", "edge/AP", "edge/threshold"}
    assert {k: v for k, v in validated.items() if k not in edge} == {
        k: v for k, v in tested.items() if k not in edge
    }
    assert {key.split("/")[0] for key in tested} >= set(case["tasks"])
    if "edge" in case["tasks"]:
        assert edge <= set(validated) and edge <= set(tested)
        assert all(0 <= tested[k] <= 100 for k in edge - {"edge/threshold"})
    # predictions saved at each image's own size
    ids = root / ("ImageSets/Context" if layout.startswith("pascal") else "gt_sets")
    ids = (ids / "val.txt").read_text().split()
    for index, img_id in enumerate(ids):
        size = case["sizes"][index % len(case["sizes"])]
        semseg = np.array(Image.open(preds / "semseg" / f"{img_id}.png"))
        assert semseg.shape == size, img_id
        if "edge" in case["tasks"]:
            # the uint8 PNG SEISM reads, at the image's size
            edge = np.array(Image.open(preds / "edge" / f"{img_id}.png"))
            assert edge.dtype == np.uint8 and edge.shape == size, img_id
        if layout.startswith("nyud"):
            # saved in NYUD's own convention: classes 1..40, 0 is unlabeled
            assert semseg.min() >= 1 and semseg.max() <= 40, img_id
            assert np.load(preds / "depth" / f"{img_id}.npy").shape == size
        else:
            assert semseg.max() <= 20, img_id
            saliency = Image.open(preds / "saliency" / f"{img_id}.png")
            assert saliency.size == size[::-1]


def test_labels_kept_at_the_original_size_after_a_test_resize(tmp_path):
    """A test pipeline that resizes the image and loads the labels after it:
    the labels stay at 61x83, the predictions come back there, and the metric
    scores them (the preprocessor used to refuse such labels)."""
    import torch
    from mmengine.config import Config
    from mmseg.registry import DATASETS, METRICS, MODELS

    root = str(tmp_path / "nyud")
    load_tool("dataset_converters/make_fake_dataset.py").make_fake_dataset(
        root, "nyud", num_train=1, num_val=2, img_size=(61, 83), seed=0
    )
    pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="MultiTaskResize", scale=(166, 122), keep_ratio=True),
        dict(type="LoadMultiTaskAnnotations"),
        dict(type="PackMultiTaskInputs"),
    ]
    dataset = DATASETS.build(
        dict(type="NYUDv2MTDataset", data_root=root, split="val", pipeline=pipeline)
    )
    cfg = Config.fromfile(str(REPO / "configs/_base_/models/mtcp_tiny.py"))
    cfg.model.num_classes = dict(semseg=40)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    metric = METRICS.build(dict(type="MultiTaskMetric"))
    metric.dataset_meta = dataset.metainfo
    batch = dict(
        inputs=[dataset[i]["inputs"] for i in range(2)],
        data_samples=[dataset[i]["data_samples"] for i in range(2)],
    )
    assert batch["inputs"][0].shape[-2:] == (122, 166)
    # the metric saves NYUD semseg as 1..40 from this packed meta key
    assert batch["data_samples"][0].reduce_zero_label is True
    with torch.no_grad():
        samples = model.val_step(batch)
    for sample in samples:
        assert sample.gt_depth.shape == sample.pred_depth.shape == (61, 83)
    metric.process({}, samples)
    figures = metric.evaluate(2)
    assert 0 <= figures["semseg/mIoU"] <= 100 and figures["depth/rmse"] > 0
