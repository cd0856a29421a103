"""MultiTaskFolderDataset and CityscapesMTDataset on hand-written files."""

import json
import sys
from pathlib import Path

import mmcv
import numpy as np
import pytest
from mmengine.dataset import Compose
from mmseg.datasets import CityscapesDataset
from tool_loader import load_tool

from mtcp.datasets import CityscapesMTDataset, MultiTaskFolderDataset

LOAD = [dict(type="LoadImageFromFile"), dict(type="LoadMultiTaskAnnotations")]
CLASSES = ("a", "b", "c")


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert mmcv.imwrite(array, str(path))


def load(dataset, index: int) -> dict:
    return Compose(LOAD)(dataset.get_data_info(index))


@pytest.fixture
def folder_root(tmp_path):
    """Two 4x6 images; semseg stored with 0 = unlabelled, depth in mm."""
    rng = np.random.default_rng(0)
    for name in ("x0", "x1"):
        write_png(
            tmp_path / "images" / f"{name}.png",
            rng.integers(0, 255, (4, 6, 3), dtype=np.uint8),
        )
        seg = np.array([[0, 1, 2, 3, 1, 1]] * 4, dtype=np.uint8)
        write_png(tmp_path / "seg" / f"{name}.png", seg)
        normals = np.zeros((4, 6, 3), dtype=np.float32)
        normals[..., 2] = -1.0
        normals[0, 0] = 0  # invalid
        (tmp_path / "normals").mkdir(exist_ok=True)
        np.save(tmp_path / "normals" / f"{name}.npy", normals)
    depth = np.zeros((4, 6), dtype=np.uint16)
    depth[1, 2] = 1234
    depth[3, 5] = 65535
    write_png(tmp_path / "depth" / "x0.png", depth)  # x1 has no depth
    (tmp_path / "val.txt").write_text("x1\n")
    return tmp_path


def folder_dataset(root, **kwargs):
    args = dict(
        data_root=str(root),
        tasks=["semseg", "depth", "normals"],
        task_folders=dict(
            semseg=dict(folder="seg", reduce_zero_label=True),
            depth=dict(suffix=".png", scale=1000.0),
        ),
        metainfo=dict(classes=CLASSES),
        serialize_data=False,
    )
    args.update(kwargs)
    return MultiTaskFolderDataset(**args)


def test_folder_dataset_decodes_each_format(folder_root):
    ds = folder_dataset(folder_root, allow_missing_labels=True)
    assert len(ds) == 2 and ds.label_counts == dict(semseg=2, depth=1, normals=2)
    assert len(ds.metainfo["palette"]) == 3
    first = load(ds, 0)
    # 0 -> ignore, 1..3 -> 0..2
    assert first["gt_seg_map"][0].tolist() == [255, 0, 1, 2, 0, 0]
    depth = first["gt_depth"]
    assert depth.dtype == np.float32 and depth[1, 2] == np.float32(1.234)
    assert depth[3, 5] == np.float32(65.535) and (depth > 0).sum() == 2
    assert (first["gt_normals"][0, 0] == 0).all()
    assert first["gt_normals"][1, 1].tolist() == [0.0, 0.0, -1.0]
    # x1 has no depth file: an all-invalid map, the other tasks as usual
    second = load(ds, 1)
    assert second["gt_depth"].shape == (4, 6) and not second["gt_depth"].any()
    assert second["gt_seg_map"][0].tolist() == [255, 0, 1, 2, 0, 0]


def test_folder_dataset_split_file_and_ignore_index(folder_root):
    ds = folder_dataset(
        folder_root,
        tasks=["semseg"],
        task_folders=dict(semseg=dict(folder="seg", ignore_index=3)),
        split_file="val.txt",
    )
    assert [ds.get_data_info(i)["img_id"] for i in range(len(ds))] == ["x1"]
    assert load(ds, 0)["gt_seg_map"][0].tolist() == [0, 1, 2, 255, 1, 1]


def test_folder_dataset_errors_name_the_file(folder_root):
    with pytest.raises(FileNotFoundError, match=r"depth label file, e\.g\. .*x1\.png"):
        folder_dataset(folder_root)
    with pytest.raises(FileNotFoundError, match=r"folder .*parts not found"):
        folder_dataset(
            folder_root,
            tasks=["parts"],
            task_folders={},
            metainfo=dict(part_classes=CLASSES),
        )
    with pytest.raises(TypeError, match="needs `tasks`"):
        folder_dataset(folder_root, tasks=None)
    with pytest.raises(TypeError, match="takes no `split`"):
        folder_dataset(folder_root, split="train")
    with pytest.raises(ValueError, match="unknown key"):
        folder_dataset(folder_root, task_folders=dict(depth=dict(scal=1000)))
    with pytest.raises(ValueError, match="needs `scale`"):
        folder_dataset(folder_root, task_folders=dict(depth=dict(suffix=".png")))
    with pytest.raises(ValueError, match=r"needs its class names"):
        folder_dataset(folder_root, allow_missing_labels=True, metainfo=None)
    (folder_root / "val.txt").write_text("x1\nx9\n")
    with pytest.raises(FileNotFoundError, match=r"have no image, e\.g\. .*x9"):
        folder_dataset(folder_root, split_file="val.txt", allow_missing_labels=True)
    # without reduce_zero_label the stored 3 is out of range for 3 classes
    ds = folder_dataset(
        folder_root, tasks=["semseg"], task_folders=dict(semseg=dict(folder="seg"))
    )
    with pytest.raises(ValueError, match=r"seg/x0\.png: semseg label values \[3\]"):
        load(ds, 0)
    write_png(folder_root / "seg" / "x0.png", np.zeros((5, 6), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"seg/x0\.png: semseg label map has size"):
        load(ds, 0)


CAMERA = dict(extrinsic=dict(baseline=0.2), intrinsic=dict(fx=2000.0, fy=2000.0))


@pytest.fixture
def cityscapes_root(tmp_path):
    """One val image (2x4) with labelIds only, one with labelTrainIds too."""
    rng = np.random.default_rng(1)
    for index in range(2):
        stem = f"lindau_{index:06d}_000019"

        def path(folder, suffix):
            return tmp_path / folder / "val" / "lindau" / (stem + suffix)

        write_png(
            path("leftImg8bit", "_leftImg8bit.png"),
            rng.integers(0, 255, (2, 4, 3), dtype=np.uint8),
        )
        label_ids = np.array([[7, 26, 0, 1], [33, 24, 5, 7]], dtype=np.uint8)
        write_png(path("gtFine", "_gtFine_labelIds.png"), label_ids)
        if index == 1:
            train_ids = np.full((2, 4), 18, dtype=np.uint8)
            write_png(path("gtFine", "_gtFine_labelTrainIds.png"), train_ids)
        disparity = np.array([[0, 1, 257, 2561], [513, 0, 0, 0]], dtype=np.uint16)
        write_png(path("disparity", "_disparity.png"), disparity)
        path("camera", "").parent.mkdir(parents=True, exist_ok=True)
        path("camera", "_camera.json").write_text(json.dumps(CAMERA))
    return tmp_path


def test_cityscapes_label_ids_and_exact_depth(cityscapes_root):
    ds = CityscapesMTDataset(str(cityscapes_root), "val", serialize_data=False)
    assert ds.metainfo["classes"] == CityscapesDataset.METAINFO["classes"]
    assert ds.metainfo["palette"] == CityscapesDataset.METAINFO["palette"]
    assert ds.label_counts == dict(semseg=2, depth=2)
    first = load(ds, 0)
    # road 7 -> 0, car 26 -> 13, unlabeled 0 / ego vehicle 1 / ground 5 -> 255,
    # bicycle 33 -> 18, person 24 -> 11
    assert first["gt_seg_map"].tolist() == [[0, 13, 255, 255], [18, 11, 255, 0]]
    depth = first["gt_depth"]
    # p = 257: disparity (257 - 1) / 256 = 1 px, depth 0.2 m * 2000 px / 1 px
    assert depth[0, 2] == np.float32(400.0)
    # p = 2561: disparity 10 px -> 40 m; p = 513: 2 px -> 200 m
    assert depth[0, 3] == np.float32(40.0) and depth[1, 0] == np.float32(200.0)
    # p = 0 (no measurement) and p = 1 (zero disparity) are invalid
    assert depth[0, 0] == 0 and depth[0, 1] == 0 and (depth[1, 1:] == 0).all()
    # labelTrainIds wins when present
    assert (load(ds, 1)["gt_seg_map"] == 18).all()


def test_cityscapes_missing_camera(cityscapes_root):
    camera = cityscapes_root / "camera/val/lindau/lindau_000001_000019_camera.json"
    camera.unlink()
    with pytest.raises(FileNotFoundError, match="lindau_000001_000019_camera.json"):
        CityscapesMTDataset(str(cityscapes_root), "val")
    ds = CityscapesMTDataset(
        str(cityscapes_root), "val", allow_missing_labels=True, serialize_data=False
    )
    assert ds.label_counts == dict(semseg=2, depth=1)
    assert not load(ds, 1)["gt_depth"].any()


@pytest.mark.parametrize("layout", ["cityscapes", "folder"])
def test_fake_layouts_pass_the_checker(tmp_path, layout):
    make = load_tool("dataset_converters/make_fake_dataset.py")
    check = load_tool("dataset_converters/check_dataset.py")
    make.make_fake_dataset(str(tmp_path), layout, 2, 2, (32, 48), drop_half=["depth"])
    if layout == "cityscapes":
        assert check.check_dataset(str(tmp_path), "cityscapes") == [
            f"[{split}] CityscapesMTDataset: 1 of 2 images have no camera file, "
            f"e.g. {tmp_path}/camera/{split}/{city}/{city}_000001_000019_camera.json"
            for split, city in (("train", "aachen"), ("val", "frankfurt"))
        ]
        ds = CityscapesMTDataset(
            str(tmp_path), "train", allow_missing_labels=True, serialize_data=False
        )
        info = load(ds, 0)
        assert ds.label_counts == dict(semseg=2, depth=1)
        assert set(np.unique(info["gt_seg_map"])) <= {0, 3, 10, 11, 13, 255}
        # the fake writer rounds disparity * 256 to an integer: depth is exact
        # to well under 1 % within the 1-6 m of the scenes
        valid = info["gt_depth"] > 0
        assert valid.mean() > 0.5 and info["gt_depth"][valid].max() < 7.0
    else:
        config = tmp_path / "cfg.py"
        config.write_text(
            "_base_ = ['{}']\n".format(
                Path(__file__).resolve().parents[2]
                / "configs/examples/mtcp_own_data.py"
            )
        )
        problems = check.check_config(
            str(config),
            {
                "train_dataloader.dataset.data_root": str(tmp_path),
                "val_dataloader.dataset.data_root": str(tmp_path),
                "test_dataloader.dataset.data_root": str(tmp_path),
            },
        )
        assert problems == []


def test_browse_dataset_shows_missing_labels_black(tmp_path, monkeypatch):
    make = load_tool("dataset_converters/make_fake_dataset.py")
    browse = load_tool("analysis_tools/browse_dataset.py")
    root, out = tmp_path / "data", tmp_path / "browse"
    make.make_fake_dataset(str(root), "folder", 2, 1, (32, 48), drop_half=["depth"])
    config = Path(__file__).resolve().parents[2] / "configs/examples/mtcp_own_data.py"
    monkeypatch.setattr(
        sys,
        "argv",
        ["browse_dataset.py", str(config), "--output-dir", str(out), "--num", "2"]
        + ["--cfg-options", f"train_dataloader.dataset.data_root={root}"],
    )
    browse.main()
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [
        f"0000{i}_semseg_depth_normals.png" for i in range(2)
    ]
    # image, semseg, depth, normals side by side; the second image has no
    # depth file, so its depth tile is all black (invalid)
    tiles = [mmcv.imread(str(f))[:, 96:144] for f in files]
    assert tiles[0].shape == (32, 48, 3) and tiles[0].any()
    assert not tiles[1].any()
