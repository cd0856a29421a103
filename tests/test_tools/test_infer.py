from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from tool_loader import load_tool
from toy_modules import ToyMultiTaskModel

from mtcp.apis import build_inference_pipeline, find_images, reduces_zero_label
from mtcp.utils.prediction_writer import write_prediction

infer = load_tool("infer")

H, W = 24, 32
META = dict(classes=("background", "blue"), palette=[(0, 0, 0), (0, 0, 255)])


@pytest.fixture
def model_files(tmp_path, toy_config):
    """The toy config and a checkpoint carrying dataset_meta, as training saves."""
    cfg = Config.fromfile(str(toy_config))
    init_default_scope("mmseg")
    model = MODELS.build(cfg.model)
    assert isinstance(model, ToyMultiTaskModel)
    ckpt = tmp_path / "toy.pth"
    torch.save(
        dict(state_dict=model.state_dict(), meta=dict(dataset_meta=META)), str(ckpt)
    )
    return str(toy_config), str(ckpt)


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name, blue in (("left", 0), ("right", 255)):
        img = np.zeros((H, W, 3), dtype=np.uint8)
        img[..., 0] = blue  # BGR: blue channel
        mmcv.imwrite(img, str(folder / f"{name}.png"))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_folder_writes_every_task_and_a_panel(model_files, image_dir, tmp_path, capsys):
    out = tmp_path / "out"
    status = infer.main([*model_files, str(image_dir), "--out-dir", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    # the progress bar, then on a line of its own where the results went
    assert printed.splitlines()[-1] == (
        f"2 images: predictions and panels in {out} (semseg, depth, normals, saliency)"
    )
    assert "2/2" in printed.splitlines()[-2]
    assert sorted(p.name for p in (out / "panels").iterdir()) == [
        "left.png",
        "right.png",
    ]

    semseg = mmcv.imread(str(out / "semseg/right.png"), flag="unchanged")
    assert semseg.shape == (H, W) and (semseg == 1).all()
    assert (mmcv.imread(str(out / "semseg/left.png"), flag="unchanged") == 0).all()
    depth = np.load(out / "depth/left.npy")
    assert depth.dtype == np.float32 and depth.shape == (H, W)
    np.testing.assert_allclose(depth, 2.0)
    normals = mmcv.imread(str(out / "normals/left.png"), channel_order="rgb")
    # n = (0, 0, 1) -> v = 255 (n + 1) / 2, x y z in R G B
    assert normals[0, 0].tolist() == [128, 128, 255]
    saliency = mmcv.imread(str(out / "saliency/left.png"), flag="unchanged")
    assert (saliency == 64).all()  # 0.25 * 255

    panel = mmcv.imread(str(out / "panels/right.png"), channel_order="rgb")
    # one prediction row: input + semseg, depth, normals, saliency, and the
    # legend strip below it
    assert panel.shape[1:] == (5 * W, 3) and panel.shape[0] > H
    # bottom-right pixel of the semseg tile: class 1 in the palette's blue,
    # over the blue image
    assert panel[H - 1, 2 * W - 1].tolist() == [0, 0, 255]
    left = mmcv.imread(str(out / "panels/left.png"), channel_order="rgb")
    assert left[H - 1, 2 * W - 1].tolist() == [0, 0, 0]


def test_glob_tasks_subset_and_tta(model_files, image_dir, tmp_path):
    out = tmp_path / "out"
    infer.main(
        [
            *model_files,
            str(image_dir / "r*.png"),
            "--out-dir",
            str(out),
            "--tasks",
            "saliency",
            "--tta",
            "--device",
            "cpu",
        ]
    )
    assert sorted(p.name for p in out.iterdir()) == ["panels", "saliency"]
    assert [p.name for p in (out / "saliency").iterdir()] == ["right.png"]
    # the toy model predicts 0.25 on the plain view, 1.0 on the flipped one:
    # the merged prediction is their mean 0.625, saved as round(0.625 * 255)
    saliency = mmcv.imread(str(out / "saliency/right.png"), flag="unchanged")
    assert (saliency == 159).all()
    panel = mmcv.imread(str(out / "panels/right.png"))
    assert panel.shape[1:] == (2 * W, 3)


def test_dataset_meta_from_config_when_checkpoint_has_none(
    toy_config, image_dir, tmp_path
):
    cfg = Config.fromfile(str(toy_config))
    init_default_scope("mmseg")
    ckpt = tmp_path / "bare.pth"
    torch.save(MODELS.build(cfg.model).state_dict(), str(ckpt))
    out = tmp_path / "out"
    infer.main([str(toy_config), str(ckpt), str(image_dir), "--out-dir", str(out)])
    assert (out / "panels/left.png").is_file()


def test_no_images(model_files, tmp_path):
    with pytest.raises(FileNotFoundError, match="No images found for"):
        infer.main([*model_files, str(tmp_path / "*.jpg"), "--out-dir", "x"])


def test_unreadable_image(model_files, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "out"
    assert infer.main([*model_files, str(bad), "--out-dir", str(out)]) == 1
    printed = capsys.readouterr()
    assert printed.err.splitlines() == [
        "1 of 1 images failed:",
        f"  Cannot read image {bad}: not a decodable image file",
    ]
    assert printed.out.splitlines()[-1] == (
        f"0 images: predictions and panels in {out} (no task); 1 failed (listed above)"
    )


def test_unknown_and_unpredicted_tasks(model_files, image_dir, tmp_path):
    with pytest.raises(KeyError, match="Unknown task 'sky'"):
        infer.main([*model_files, str(image_dir), "--out-dir", "x", "--tasks", "sky"])
    with pytest.raises(ValueError, match=r"tasks \['parts'\] were not predicted"):
        infer.main(
            [
                *model_files,
                str(image_dir),
                "--out-dir",
                str(tmp_path),
                "--tasks",
                "parts",
            ]
        )


def test_missing_files(model_files, image_dir):
    config, ckpt = model_files
    with pytest.raises(FileNotFoundError, match="Config file not found"):
        infer.main(["nope.py", ckpt, str(image_dir), "--out-dir", "x"])
    with pytest.raises(FileNotFoundError, match="Checkpoint file not found"):
        infer.main([config, "nope.pth", str(image_dir), "--out-dir", "x"])


def test_same_name_in_two_folders(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        mmcv.imwrite(np.zeros((4, 4, 3), np.uint8), str(tmp_path / sub / "x.png"))
    with pytest.raises(ValueError, match="would write the same output files"):
        find_images(str(tmp_path / "*" / "x.png"))


def test_pipeline_drops_annotations_and_loads_images(tmp_path):
    cfg = Config(
        dict(
            test_dataloader=dict(
                dataset=dict(
                    pipeline=[
                        dict(type="LoadImageFromFile"),
                        dict(type="LoadMultiTaskAnnotations"),
                        dict(type="PackMultiTaskInputs"),
                    ]
                )
            )
        )
    )
    pipeline = build_inference_pipeline(cfg)
    # the pipeline reads the image itself
    assert [type(t).__name__ for t in pipeline.transforms] == ["PackMultiTaskInputs"]
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 2] = 255
    path = tmp_path / "blue.png"
    mmcv.imwrite(rgb[..., ::-1], str(path))
    from_file, from_array = pipeline(str(path)), pipeline(rgb)
    # packed BGR, as LoadImageFromFile loads: blue first
    assert from_file["inputs"][:, 0, 0].tolist() == [255, 0, 0]
    assert torch.equal(from_file["inputs"], from_array["inputs"])
    assert from_file["data_samples"].img_path == str(path)
    assert from_file["data_samples"].ori_shape == (H, W)


def test_nyud_semseg_saved_as_stored_1_to_40(tmp_path):
    configs = Path(__file__).resolve().parents[2] / "configs"
    assert reduces_zero_label(Config.fromfile(str(configs / "mtcp_nyud.py")))
    assert not reduces_zero_label(Config.fromfile(str(configs / "mtcp_pascal.py")))
    pred = torch.tensor([[[0, 39], [5, 0]]])
    path = write_prediction("semseg", pred, str(tmp_path / "a"), True)
    assert mmcv.imread(path, flag="unchanged").tolist() == [[1, 40], [6, 1]]
    path = write_prediction("parts", pred, str(tmp_path / "b"), True)
    assert mmcv.imread(path, flag="unchanged").tolist() == [[0, 39], [5, 0]]


@pytest.mark.parametrize("option", [["--opacity", "1.5"], ["--batch-size", "0"]])
def test_bad_opacity_or_batch_size(model_files, image_dir, option, capsys):
    with pytest.raises(SystemExit):
        infer.main([*model_files, str(image_dir), "--out-dir", "x", *option])
    assert (
        "--batch-size must be >= 1 and --opacity in [0, 1]" in capsys.readouterr().err
    )
