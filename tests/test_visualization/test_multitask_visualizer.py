import mmcv
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import VISUALIZERS

import mtcp  # noqa: F401
from mtcp.structures import MultiTaskDataSample
from mtcp.visualization import MultiTaskVisualizer, colorize_task

H, W = 24, 32
PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def make_sample(with_gt: bool = True, with_pred: bool = True) -> MultiTaskDataSample:
    sample = MultiTaskDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
    seg = torch.zeros(1, H, W, dtype=torch.long)
    seg[:, :, W // 2 :] = 2
    depth = torch.linspace(0.5, 5.0, H * W).reshape(1, H, W)
    normals = torch.zeros(3, H, W)
    normals[2] = 1.0
    if with_gt:
        sample.set_gt("semseg", PixelData(data=seg))
        sample.set_gt("depth", PixelData(data=depth))
        sample.set_gt("normals", PixelData(data=normals))
    if with_pred:
        sample.set_pred("semseg", PixelData(data=seg.flip(-1)))
        sample.set_pred("depth", PixelData(data=depth * 2))
        sample.set_pred("normals", PixelData(data=-normals))
    return sample


def make_visualizer(**kwargs) -> MultiTaskVisualizer:
    """Tiles only (no legend strips) unless ``legend=True``."""
    kwargs.setdefault("legend", False)
    return MultiTaskVisualizer(
        name="test_vis", dataset_meta=dict(palette=PALETTE), **kwargs
    )


def test_registered():
    assert VISUALIZERS.get("MultiTaskVisualizer") is MultiTaskVisualizer


def test_panel_layout_and_tiles():
    image = np.full((H, W, 3), 100, dtype=np.uint8)
    vis = make_visualizer()
    panel, labels, positions, _ = vis.compose_panel(image, make_sample())
    # GT row and prediction row; input + semseg, depth, normals columns
    assert panel.shape == (2 * H, 4 * W, 3)
    assert labels == [
        "input",
        "semseg GT",
        "depth GT",
        "normals GT",
        "input",
        "semseg pred",
        "depth pred",
        "normals pred",
    ]
    assert positions[5].tolist() == [W + 2, H + 2]
    np.testing.assert_array_equal(panel[:H, :W], image)
    # the semseg GT tile is class 0 (red) on the left, class 2 (blue) on the right
    assert panel[0, W].tolist() == [255, 0, 0]
    assert panel[0, 2 * W - 1].tolist() == [0, 0, 255]
    # the predicted semseg is flipped
    assert panel[H, W].tolist() == [0, 0, 255]
    # the normals tiles are colourised by colorize_task
    expected = colorize_task("normals", make_sample().pred_normals.data.numpy())
    np.testing.assert_array_equal(panel[H:, 3 * W :], expected)


def test_gt_only_and_missing_prediction_leaves_black_tile():
    image = np.zeros((H, W, 3), dtype=np.uint8)
    vis = make_visualizer()
    panel, labels, _, _ = vis.compose_panel(image, make_sample(), draw_pred=False)
    assert panel.shape == (H, 4 * W, 3)
    assert "semseg pred" not in labels

    sample = make_sample(with_gt=True, with_pred=False)
    sample.set_pred("depth", PixelData(data=torch.ones(1, H, W)))
    panel, labels, _, _ = vis.compose_panel(image, sample)
    assert panel.shape == (2 * H, 4 * W, 3)
    assert labels[-2:] == ["input", "depth pred"]
    # no semseg prediction: a black tile in the prediction row
    assert not panel[H:, W : 2 * W].any()


def test_gt_is_cropped_to_img_shape_and_maps_resized_to_image():
    # ground truth padded by the data preprocessor beyond img_shape
    sample = MultiTaskDataSample(metainfo=dict(img_shape=(H, W)))
    seg = torch.full((1, H + 8, W + 8), 255, dtype=torch.long)
    seg[:, :H, :W] = 1
    sample.set_gt("semseg", PixelData(data=seg))
    # prediction at half the image size
    sample.set_pred("semseg", PixelData(data=torch.ones(1, H // 2, W // 2).long()))
    image = np.zeros((H, W, 3), dtype=np.uint8)
    panel, _, _, _ = make_visualizer().compose_panel(image, sample)
    assert panel.shape == (2 * H, 2 * W, 3)
    assert (panel[:H, W:] == [0, 255, 0]).all()
    assert (panel[H:, W:] == [0, 255, 0]).all()


def test_task_order_and_subset():
    vis = make_visualizer(tasks=["normals", "semseg"])
    image = np.zeros((H, W, 3), dtype=np.uint8)
    _, labels, _, _ = vis.compose_panel(image, make_sample(), draw_gt=False)
    assert labels == ["input", "normals pred", "semseg pred"]
    with pytest.raises(KeyError, match="Unknown task 'sky'"):
        make_visualizer(tasks=["sky"])


def test_missing_palette_is_an_error():
    vis = MultiTaskVisualizer(name="test_vis_no_meta", legend=False)
    image = np.zeros((H, W, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="no 'palette'"):
        vis.compose_panel(image, make_sample())


def test_bad_image_shape():
    with pytest.raises(ValueError, match=r"\(H, W, 3\) RGB image"):
        make_visualizer().compose_panel(np.zeros((H, W)), make_sample())


def test_add_datasample_writes_panel(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    out_file = tmp_path / "panel.png"
    vis = make_visualizer()
    vis.add_datasample("sample", image, make_sample(), out_file=str(out_file))
    written = mmcv.imread(str(out_file), channel_order="rgb")
    assert written.shape == (2 * H, 4 * W, 3)
    drawn = vis.get_image()
    np.testing.assert_array_equal(written, drawn)
    # the label box darkens the top-left corner of the semseg tile; the rest
    # of the tile keeps its colour
    assert written[H - 1, W].tolist() == [255, 0, 0]


def test_add_datasample_without_out_file_uses_backends(tmp_path):
    vis = MultiTaskVisualizer(
        name="test_vis_backend",
        vis_backends=[dict(type="LocalVisBackend")],
        save_dir=str(tmp_path),
        dataset_meta=dict(palette=PALETTE),
        legend=False,
    )
    image = np.zeros((H, W, 3), dtype=np.uint8)
    vis.add_datasample("val_x", image, make_sample(), step=3)
    written = list((tmp_path / "vis_data" / "vis_image").glob("*.png"))
    assert [path.name for path in written] == ["val_x_3.png"]
    assert mmcv.imread(str(written[0])).shape == (2 * H, 4 * W, 3)


def test_tensorboard_backend_receives_panels_and_scalars(tmp_path):
    """TensorBoard is a runtime dependency: the documented backend switch works."""
    vis = MultiTaskVisualizer(
        name="test_vis_tensorboard",
        vis_backends=[dict(type="LocalVisBackend"), dict(type="TensorboardVisBackend")],
        save_dir=str(tmp_path),
        dataset_meta=dict(palette=PALETTE),
    )
    vis.add_datasample("val_x", np.zeros((H, W, 3), dtype=np.uint8), make_sample())
    vis.add_scalars({"weights/semseg": 1.0}, step=1)
    vis.close()
    events = list((tmp_path / "vis_data").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    assert (tmp_path / "vis_data" / "scalars.json").is_file()


def test_legend_strip_names_classes_and_depth_range_in_metres():
    image = np.full((H, W, 3), 100, dtype=np.uint8)
    vis = MultiTaskVisualizer(
        name="test_vis_legend",
        dataset_meta=dict(palette=PALETTE, classes=("sky", "tree", "road")),
    )
    sample = make_sample(with_gt=False)
    tiles_only = make_visualizer().compose_panel(image, sample)[0]
    panel, labels, positions, aligns = vis.compose_panel(image, sample)
    # the strip under the tiles; the tiles themselves unchanged
    assert panel.shape[1] == 4 * W and panel.shape[0] > H
    np.testing.assert_array_equal(panel[:H], tiles_only)
    # the classes present (class 1 is not), the larger area first (equal
    # halves: the lower index); predicted depth 1 m .. 10 m
    assert labels[4:6] == ["sky", "road"]
    assert labels[6:8] == ["1.00 m", "10.00 m"] and aligns[6:8] == ["left", "right"]
    assert (positions[4:][:, 1] >= H).all()
    strip = panel[H:]
    # the swatches in the semseg column, the colour bar in the depth column
    for colour in (PALETTE[0], PALETTE[2]):
        assert (strip[:, W : 2 * W] == colour).all(axis=-1).any()
    assert not (strip[:, W : 2 * W] == PALETTE[1]).all(axis=-1).any()
    ramp = colorize_task("depth", np.array([[1.0, 10.0]]))
    depth_strip = strip[:, 2 * W : 3 * W]
    for colour in ramp[0]:
        assert (depth_strip == colour).all(axis=-1).any()
    # normals need no legend: their column of the strip is black
    assert not strip[:, 3 * W :].any()


def test_class_maps_are_blended_over_the_image_with_alpha():
    image = np.full((H, W, 3), 100, dtype=np.uint8)
    sample = make_sample(with_gt=False)
    panel = make_visualizer(alpha=0.25).compose_panel(image, sample)[0]
    opaque = make_visualizer().compose_panel(image, sample)[0]
    # semseg: 0.25 * palette + 0.75 * image; red (255, 0, 0) on the right
    assert panel[0, 2 * W - 1].tolist() == [139, 75, 75]
    # depth and normals are not overlaid
    np.testing.assert_array_equal(panel[:, 2 * W :], opaque[:, 2 * W :])
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        make_visualizer(alpha=1.5).compose_panel(image, sample)
