"""MultiTaskInferencer on the demo model (untrained weights, conftest.py)."""

import logging

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from mtcp.apis import MultiTaskInferencer, inference_model, init_model
from mtcp.structures import MultiTaskDataSample
from mtcp.tasks import IGNORE_INDEX

CKPT = "work_dirs/mtcp_demo/epoch_5.pth"


@pytest.fixture
def inferencer(demo_files):
    torch.set_num_threads(1)
    # a config by name, as from an empty directory with an installed mtcp
    return MultiTaskInferencer("mtcp_demo.py", CKPT, device="cpu", show_progress=False)


def test_batches_of_files_and_arrays_of_different_sizes(demo_files, inferencer):
    root, rgb = demo_files
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    mmcv.imwrite(rng.integers(0, 256, (72, 100, 3), np.uint8), str(root / "b.jpg"))
    inputs = ["room.png", small, "b.jpg"]
    results = inferencer(inputs, batch_size=2, out_dir="out", return_vis=True)
    assert results["failed"] == []
    shapes = [(96, 128), (64, 80), (72, 100)]
    for pred, shape in zip(results["predictions"], shapes):
        assert sorted(pred) == ["depth", "normals", "semseg"]
        assert pred["semseg"].shape == pred["depth"].shape == shape
        assert pred["normals"].shape == (3, *shape)
        assert np.isfinite(pred["depth"]).all() and (pred["depth"] >= 0).all()
    # outputs named after the files; the array gets a counter
    for name in ("room", "array_00000", "b"):
        assert (root / "out" / "depth" / f"{name}.npy").is_file()
        assert (root / "out" / "semseg" / f"{name}.png").is_file()
    saved = np.load(root / "out" / "depth" / "array_00000.npy")
    np.testing.assert_array_equal(saved, results["predictions"][1]["depth"])
    panel = mmcv.imread(str(root / "out" / "panels" / "b.png"), channel_order="rgb")
    np.testing.assert_array_equal(panel, results["visualization"][2])

    # batch size 1 gives exactly inference_model's predictions
    one = inferencer([rgb], batch_size=1)["predictions"][0]
    (sample,) = inference_model(init_model("mtcp_demo.py", CKPT), "room.png")
    np.testing.assert_array_equal(one["depth"], sample.pred_depth.data[0].numpy())
    np.testing.assert_array_equal(one["semseg"], sample.pred_sem_seg.data[0].numpy())


def test_folder_datasamples_tasks_and_the_panel_legend(demo_files, inferencer):
    root, _ = demo_files
    folder = root / "photos"
    folder.mkdir()
    for name in ("x", "a"):
        mmcv.imwrite(np.zeros((96, 128, 3), np.uint8), str(folder / f"{name}.png"))
    (folder / "notes.txt").write_text("not an image")
    samples = inferencer(str(folder), return_datasamples=True)["predictions"]
    assert all(isinstance(s, MultiTaskDataSample) for s in samples)
    assert [s.img_path for s in samples] == [
        str(folder / "a.png"),
        str(folder / "x.png"),
    ]

    results = inferencer(
        str(folder / "a.png"), tasks=["semseg"], opacity=1.0, return_vis=True
    )
    assert list(results["predictions"][0]) == ["semseg"]
    (panel,) = results["visualization"]
    # input and semseg tiles, then the legend strip: a swatch of every class
    # predicted, in the palette's colour
    assert panel.shape[1] == 2 * 128 and panel.shape[0] > 96
    palette = inferencer.model.dataset_meta["palette"]
    classes = np.unique(results["predictions"][0]["semseg"])
    strip = panel[96:, 128:]
    for c in classes[classes != IGNORE_INDEX]:
        assert (strip == palette[c]).all(axis=-1).any(), c
    with pytest.raises(ValueError, match=r"tasks \['parts'\] were not predicted"):
        inferencer(str(folder / "a.png"), tasks=["parts"], out_dir="o")


def test_unreadable_files_raise_or_are_listed(demo_files, inferencer):
    root, rgb = demo_files
    (root / "empty.png").write_bytes(b"")
    with pytest.raises(
        ValueError, match="Cannot read image empty.png: the file is empty"
    ):
        inferencer(["room.png", "empty.png"])
    results = inferencer(["empty.png", "room.png"], skip_unreadable=True)
    assert len(results["predictions"]) == 1
    assert results["failed"] == [
        "Cannot read image empty.png: the file is empty (0 bytes)"
    ]
    with pytest.raises(ValueError, match=r"must be RGB \(H, W, 3\)"):
        inferencer(rgb[..., 0])
    with pytest.raises(ValueError, match="unknown argument"):
        inferencer("room.png", pred_out_dir="x")


def test_no_checkpoint_warns_of_random_weights(demo_files):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    config = Config.fromfile("configs/mtcp_demo.py")
    try:
        # a Config object as well as a file or name
        MultiTaskInferencer(config, device="cpu")
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert warnings == [
        f"No checkpoint given: the model of {config.filename} keeps its initial, "
        "random weights and its predictions mean nothing; pass the checkpoint of "
        "a trained model"
    ]
