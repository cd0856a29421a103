"""``tools/test.py --tta`` on fake NYUD data in its real layout at an odd
image size (61x83): the saved predictions are the average of the plain
predictions of each image and of its mirror mapped back, and the metrics
score them against the un-flipped labels."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import DATASETS, METRICS, MODELS
from tool_loader import load_tool

from mtcp.apis import inference_model, init_model, read_image

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/mtcp_nyud.py")
SIZE = (61, 83)
MULTI_SCALE = """
_base_ = [{base!r}]
tta_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(
        type="TestTimeAug",
        transforms=[
            [
                dict(type="MultiTaskResize", scale_factor=s, keep_ratio=True)
                for s in {scales!r}
            ],
            [
                dict(type="MultiTaskRandomFlip", prob=0.0),
                dict(type="MultiTaskRandomFlip", prob=1.0),
            ],
            [dict(type="LoadMultiTaskAnnotations")],
            [dict(type="PackMultiTaskInputs")],
        ],
    ),
]
"""


def tiny_config(root: Path) -> Config:
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(
        {
            "model.backbone.arch": "tiny",
            "model.backbone.init_cfg": None,
            "model.decoder.in_channels": 32,
            "model.decoder.depths": (1, 1, 1),
            "model.decoder.num_heads": (1, 1, 1),
            "test_dataloader.dataset.data_root": str(root),
            "test_dataloader.num_workers": 0,
            "test_dataloader.persistent_workers": False,
        }
    )
    return cfg


def scaled(cfg: Config, scale: float) -> Config:
    """``cfg`` whose test pipeline resizes the image by ``scale`` first."""
    cfg = copy.deepcopy(cfg)
    if scale != 1.0:
        resize = dict(type="MultiTaskResize", scale_factor=scale, keep_ratio=True)
        cfg.test_dataloader.dataset.pipeline.insert(1, resize)
    return cfg


def hand_average(models, img_path):
    """The plain predictions of the image and of its mirror by each model
    (one per scale, 1.0 last), mapped back (normals' x negated) and averaged
    per task."""
    rgb = read_image(img_path)
    depths, normals, probs = [], [], []
    sign = torch.tensor([-1.0, 1.0, 1.0]).view(3, 1, 1)
    for model in models:
        (plain,) = inference_model(model, img_path)
        (mirror,) = inference_model(model, np.ascontiguousarray(rgb[:, ::-1]))
        depths += [plain.pred_depth.data, mirror.pred_depth.data.flip(-1)]
        normals += [plain.pred_normals.data, mirror.pred_normals.data.flip(-1) * sign]
        probs += [
            plain.sem_seg_logits.data.softmax(0),
            mirror.sem_seg_logits.data.flip(-1).softmax(0),
        ]
    averaged = dict(
        semseg=torch.stack(probs).mean(0).argmax(0, keepdim=True),
        depth=torch.stack(depths).mean(0),
        normals=F.normalize(torch.stack(normals).sum(0), dim=0),
    )
    # the plain prediction at the last scale, 1.0
    return averaged, depths[-2]


@pytest.mark.parametrize("scales", [(1.0,), (0.75, 1.0)], ids=["flip", "scales"])
def test_tta_predictions_and_metrics_at_an_odd_size(tmp_path, scales):
    torch.set_num_threads(1)
    root = tmp_path / "nyud"
    load_tool("dataset_converters/make_fake_dataset.py").make_fake_dataset(
        str(root), "nyud", num_train=1, num_val=2, img_size=SIZE, seed=0
    )
    cfg = tiny_config(root)
    init_default_scope("mmseg")
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = tmp_path / "tiny.pth"
    torch.save(dict(state_dict=model.state_dict(), meta={}), str(ckpt))
    config = CONFIG
    if scales != (1.0,):
        # multi-scale: every scale, plain and flipped (mmseg's img_ratios)
        config = str(tmp_path / "nyud_scales.py")
        Path(config).write_text(MULTI_SCALE.format(base=CONFIG, scales=scales))

    work_dir, preds = tmp_path / "test", tmp_path / "preds"
    options = [
        "model.backbone.arch=tiny",
        "model.backbone.init_cfg=None",
        "model.decoder.in_channels=32",
        "model.decoder.depths=(1,1,1)",
        "model.decoder.num_heads=(1,1,1)",
        f"test_dataloader.dataset.data_root={root}",
        "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
    ]
    load_tool("test").main(
        [config, str(ckpt), "--work-dir", str(work_dir), "--out", str(preds)]
        + ["--tta", "--cfg-options"]
        + options
    )
    (log,) = work_dir.glob("*/*.json")
    tested = json.loads(log.read_text().splitlines()[-1])

    models = [init_model(scaled(cfg, scale), str(ckpt)) for scale in scales]
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = dataset.metainfo
    for index in range(len(dataset)):
        sample = dataset[index]["data_samples"]
        expected, plain_depth = hand_average(models, sample.img_path)
        name = Path(sample.img_path).stem
        saved = np.load(preds / "depth" / f"{name}.npy")
        assert saved.shape == SIZE
        np.testing.assert_allclose(saved, expected["depth"][0].numpy(), atol=1e-5)
        assert not np.allclose(saved, plain_depth[0].numpy(), atol=1e-3)
        # the metric scores against the un-flipped labels of the plain pipeline
        for task, pred in expected.items():
            sample.set_pred(task, PixelData(data=pred))
        metric.process({}, [sample])
    figures = metric.evaluate(len(dataset))
    for key in ("semseg/mIoU", "depth/rmse", "normals/mean"):
        assert abs(tested[key] - figures[key]) < 1e-3, key
