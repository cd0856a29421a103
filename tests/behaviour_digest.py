"""A digest of what mtcp computes for every task on a fixed input: data
pipelines on fake datasets in the real layouts, the tiny model's losses and
predictions (with a flip and a test-time resize), the metric's figures, the
saved prediction files and the colourised maps.

Only public entry points are used (registries, configs, ``MultiTaskMetric``,
``write_predictions``, ``colorize_task``, ``make_fake_dataset``), so the
digest of one version of the code can be compared with another's:
``tests/test_behaviour_digest.py`` compares today's with the one recorded in
``tests/fixtures/behaviour_digest.json``. Regenerate the record only for an
intended change of behaviour::

    python tests/behaviour_digest.py tests/fixtures/behaviour_digest.json
"""

import json
import os.path as osp
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import DATASETS, MODELS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from tool_loader import load_tool  # noqa: E402

import mtcp  # noqa: E402,F401
from mtcp.evaluation.metrics import MultiTaskMetric  # noqa: E402
from mtcp.structures import MultiTaskDataSample  # noqa: E402
from mtcp.utils.prediction_writer import write_predictions  # noqa: E402
from mtcp.visualization import colorize_task  # noqa: E402

ALL_TASKS = ["semseg", "parts", "depth", "normals", "saliency", "edge"]
SCORED = ["semseg", "parts", "depth", "normals", "saliency"]
NYUD_TASKS = ["semseg", "depth", "normals", "edge"]
PASCAL_TASKS = ["parts", "saliency"]
FIELDS = dict(
    semseg="sem_seg",
    parts="parts",
    depth="depth",
    normals="normals",
    saliency="saliency",
    edge="edge",
)


def _hash(array) -> dict:
    """Shape, dtype, sums and a few values of an array: enough to tell a
    changed computation, and comparable with a tolerance across CPUs."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    flat = array.astype(np.float64).ravel()
    picks = np.linspace(0, flat.size - 1, 16).astype(np.int64) if flat.size else []
    return dict(
        shape=list(array.shape),
        dtype=str(array.dtype),
        sum=float(flat.sum()),
        abs_sum=float(np.abs(flat).sum()),
        values=[float(flat[i]) for i in picks],
    )


def _file_hash(path: str) -> dict:
    """Summary of a saved file's decoded content."""
    if path.endswith(".npy"):
        return _hash(np.load(path))
    from PIL import Image

    with Image.open(path) as img:
        return _hash(np.asarray(img))


def assert_same(recorded, current, where: str = "digest") -> None:
    """Compare two digests: exact structure and integer data; floats (model
    outputs, figures) to 1e-4 relative, integer maps computed from model
    outputs to within 0.5 % of their pixels (an argmax tie may resolve
    differently on another CPU)."""
    if isinstance(recorded, dict):
        assert isinstance(current, dict) and recorded.keys() == current.keys(), (
            f"{where}: keys {sorted(recorded)} != {sorted(current)}"
        )
        if "values" in recorded and "dtype" in recorded:
            assert recorded["shape"] == current["shape"], where
            assert recorded["dtype"] == current["dtype"], where
            size = max(float(np.prod(recorded["shape"])), 1.0)
            if recorded["dtype"].startswith("float"):
                tol = dict(rel=1e-4, abs=1e-6 * size)
            elif where.startswith("digest.model"):
                # integer maps from model outputs: 0.5 % of the pixels may differ
                tol = dict(abs=0.005 * size * max(map(abs, recorded["values"] + [1])))
            else:
                tol = dict(abs=0)
            for key in ("sum", "abs_sum"):
                assert current[key] == pytest.approx(recorded[key], **tol), (where, key)
            return
        for key in recorded:
            assert_same(recorded[key], current[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        assert isinstance(current, list) and len(recorded) == len(current), where
        for i, (a, b) in enumerate(zip(recorded, current)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(recorded, float):
        assert current == pytest.approx(recorded, rel=1e-3, abs=1e-6), where
    else:
        assert recorded == current, where


def _deterministic_weights(model: torch.nn.Module) -> None:
    """Fill every parameter and float buffer from a generator seeded by its
    name, so the weights do not depend on the order modules are built in."""
    with torch.no_grad():
        for name, tensor in list(model.named_parameters()) + [
            (n, b) for n, b in model.named_buffers() if b.is_floating_point()
        ]:
            gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            elif name.endswith(".cls.weight"):
                # prediction convs: large enough for maps that vary in space
                tensor.copy_(3.0 * torch.randn(tensor.shape, generator=gen))
            elif name.endswith(".cls.bias"):
                tensor.fill_(2.5 if name.startswith("heads.depth.") else 0.0)
            else:
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=gen))


def _labels(h: int, w: int, index: int) -> dict:
    gen = torch.Generator().manual_seed(100 + index)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    region = (xs + ys * (index + 1) >= (w + h) // 2).long()
    normals = torch.nn.functional.normalize(torch.randn(3, h, w, generator=gen), dim=0)
    normals[:, :3, :3] = 0
    depth = 1.0 + 3.0 * torch.rand(1, h, w, generator=gen)
    depth[:, -2:] = 0
    semseg = (region + 2 * (xs % 2)).clamp(max=3)[None]
    semseg[:, 0] = 255
    return dict(
        semseg=semseg,
        parts=torch.where(region.bool(), (xs % 7), 255)[None],
        depth=depth,
        normals=normals,
        saliency=region[None],
        edge=(xs == w // 2).long()[None],
    )


def model_digest() -> dict:
    torch.manual_seed(0)
    cfg = Config.fromfile(str(REPO / "configs" / "_base_" / "models" / "mtcp_tiny.py"))
    cfg.model.tasks = ALL_TASKS
    cfg.model.num_classes = dict(semseg=4, parts=7)
    model = MODELS.build(cfg.model)
    _deterministic_weights(model)
    digest = dict(state_keys=sorted(model.state_dict()))

    h, w = 61, 83
    inputs, samples = [], []
    for i in range(2):
        gen = torch.Generator().manual_seed(i)
        inputs.append(
            torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)
        )
        sample = MultiTaskDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w)))
        for task, label in _labels(h, w, i).items():
            sample.set_gt(task, PixelData(data=label))
        samples.append(sample)
    model.train()
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    losses = model(**data, mode="loss")
    digest["losses"] = {k: float(v) for k, v in sorted(losses.items())}
    total, log_vars = model.parse_losses(losses)
    digest["total_loss"] = float(total)

    model.eval()
    test_samples = []
    for i, (flip, scale) in enumerate([(True, None), (False, (1.25, 1.2))]):
        meta = dict(ori_shape=(h, w), img_shape=(h, w), flip=flip)
        if flip:
            meta["flip_direction"] = "horizontal"
        if scale is not None:
            meta["scale_factor"] = scale
        sample = MultiTaskDataSample(metainfo=meta)
        for task, label in _labels(h, w, i).items():
            sample.set_gt(task, PixelData(data=label))
        test_samples.append(sample)
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=inputs, data_samples=test_samples))
        preds = model(**data, mode="predict")
    digest["predictions"] = [
        {t: _hash(getattr(s, "pred_" + FIELDS[t]).data) for t in ALL_TASKS}
        for s in preds
    ]
    digest["logits"] = [
        {t: _hash(getattr(s, FIELDS[t] + "_logits").data) for t in ("semseg", "parts")}
        for s in preds
    ]
    metric = MultiTaskMetric(tasks=SCORED, num_classes=dict(semseg=4, parts=7))
    metric.process({}, preds)
    digest["metrics"] = {
        k: round(float(v), 10) for k, v in sorted(metric.evaluate(2).items())
    }
    with tempfile.TemporaryDirectory() as out:
        # NYUD-v2's tasks store classes as 1..K (reduce_zero_label), PASCAL's not
        files = []
        for tasks, reduce_zero_label in (NYUD_TASKS, True), (PASCAL_TASKS, False):
            files += write_predictions(
                {t: preds[0].get_pred(t).data for t in tasks},
                out,
                "img0",
                reduce_zero_label=reduce_zero_label,
            )
        digest["files"] = {osp.relpath(f, out): _file_hash(f) for f in sorted(files)}
    palettes = dict(semseg=[[i * 50, 255 - i * 50, i * 20] for i in range(4)])
    palettes["parts"] = [[i * 30, i * 20, 255 - i * 30] for i in range(7)]
    digest["colours"] = {
        t: _hash(
            colorize_task(t, preds[1].get_pred(t).data.numpy(), palette=palettes.get(t))
        )
        for t in ALL_TASKS
    }
    digest["gt_colours"] = {
        t: _hash(
            colorize_task(
                t, test_samples[1].get_gt(t).data.numpy(), palette=palettes.get(t)
            )
        )
        for t in ALL_TASKS
    }
    return digest


def pipeline_digest() -> dict:
    fake = load_tool("dataset_converters/make_fake_dataset")
    digest = {}
    with tempfile.TemporaryDirectory() as root:
        cases = [
            ("nyud", "NYUDv2MTDataset", ["semseg", "depth", "normals", "edge"]),
            ("nyud-png", "NYUDv2MTDataset", ["semseg", "depth", "normals", "edge"]),
            (
                "pascal",
                "PascalContextMTDataset",
                ["semseg", "parts", "saliency", "normals", "edge"],
            ),
            ("cityscapes", "CityscapesMTDataset", ["semseg", "depth"]),
        ]
        train = [
            dict(type="LoadImageFromFile"),
            dict(type="LoadMultiTaskAnnotations"),
            dict(type="MultiTaskRandomResize", scale=(64, 48), ratio_range=(0.7, 1.3)),
            dict(type="MultiTaskRandomCrop", crop_size=(40, 56)),
            dict(type="MultiTaskRandomFlip", prob=0.5),
            dict(type="MultiTaskPad", size=(40, 56)),
            dict(type="PackMultiTaskInputs"),
        ]
        for layout, dataset, tasks in cases:
            data_root = osp.join(root, layout)
            fake.make_fake_dataset(
                data_root, layout, num_train=3, num_val=1, img_size=[(45, 61), (50, 66)]
            )
            ds = DATASETS.build(
                dict(type=dataset, data_root=data_root, split="train", tasks=tasks)
            )
            pipeline = Compose(train)
            out = []
            for index in range(len(ds)):
                np.random.seed(index)
                packed = pipeline(ds.get_data_info(index))
                sample = packed["data_samples"]
                out.append(
                    dict(
                        img=_hash(packed["inputs"]),
                        **{t: _hash(sample.get_gt(t).data) for t in tasks},
                    )
                )
            digest[layout] = out
        folder = osp.join(root, "folder")
        fake.make_fake_dataset(
            folder, "folder", num_train=3, num_val=1, drop_half=["depth"]
        )
        ds = DATASETS.build(
            dict(
                type="MultiTaskFolderDataset",
                data_root=folder,
                tasks=["semseg", "depth", "normals"],
                split_file="splits/train.txt",
                task_folders=dict(depth=dict(suffix=".png", scale=1000)),
                allow_missing_labels=True,
                metainfo=dict(classes=("wall", "floor", "ceiling", "box", "ball")),
            )
        )
        pipeline = Compose(train)
        out = []
        for index in range(len(ds)):
            np.random.seed(index)
            packed = pipeline(ds.get_data_info(index))
            sample = packed["data_samples"]
            out.append({t: _hash(sample.get_gt(t).data) for t in ds.tasks})
        digest["folder"] = out
    return digest


def behaviour_digest() -> dict:
    init_default_scope("mmseg")
    torch.set_num_threads(1)
    return dict(model=model_digest(), pipelines=pipeline_digest())


if __name__ == "__main__":
    result = behaviour_digest()
    text = json.dumps(result, indent=1, sort_keys=True)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text + "\n")
    else:
        print(text)
