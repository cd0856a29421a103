import numpy as np
import pytest

from mtcp.visualization.colorize import colorize_task


def test_class_map_uses_palette_and_ignore_is_black():
    palette = [[10, 20, 30], [200, 100, 0]]
    out = colorize_task("semseg", np.array([[[0, 1, 255]]]), palette)
    assert out.shape == (1, 3, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], [[10, 20, 30], [200, 100, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="exceeds the palette's 2 classes"):
        colorize_task("parts", np.array([[2]]), palette)
    with pytest.raises(ValueError, match="needs the class palette"):
        colorize_task("semseg", np.zeros((2, 2), np.uint8))


def test_depth_colour_map_and_invalid():
    depth = np.array([[0.0, 1.0, 3.0]], np.float32)
    out = colorize_task("depth", depth)
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0])
    # jet: near is blue, far is red (RGB)
    assert out[0, 1, 2] > 100 and out[0, 1, 0] < 50
    assert out[0, 2, 0] > 100 and out[0, 2, 2] < 50
    fixed = colorize_task("depth", depth, vmin=0.0, vmax=10.0)
    assert not np.array_equal(fixed[0, 2], out[0, 2])


@pytest.mark.parametrize("layout", ["chw", "hwc"])
def test_normals(layout):
    normals = np.array([[[1.0, 0, 0], [0, -1.0, 0], [0, 0, 0], [0, 0, 1]]], np.float32)
    data = normals.transpose(2, 0, 1) if layout == "chw" else normals
    out = colorize_task("normals", data)
    np.testing.assert_array_equal(
        out[0], [[255, 128, 128], [128, 0, 128], [0, 0, 0], [128, 128, 255]]
    )


def test_binary_maps_as_grey():
    out = colorize_task("saliency", np.array([[0.0, 0.5, 1.0]]))
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])
    out = colorize_task("edge", np.array([[[0, 1, 255]]], np.uint8))
    np.testing.assert_array_equal(out[0], [[0, 0, 0], [255, 255, 255], [0, 0, 0]])


def test_browse_render_sample_tiles_every_task():
    from mmengine.dataset import Compose
    from tool_loader import load_tool

    from mtcp.datasets import SyntheticScenesDataset

    browse = load_tool("analysis_tools/browse_dataset.py")
    tasks = ["semseg", "parts", "saliency", "normals", "edge"]
    ds = SyntheticScenesDataset("pascal", num_samples=1, img_size=(48, 64), tasks=tasks)
    results = ds.render(0)
    sample = Compose([dict(type="PackMultiTaskInputs")])(dict(results))
    picture = browse.render_sample(sample, ds.metainfo)
    assert picture.shape == (48, 64 * 6, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture[:, :64], results["img"][..., ::-1])
    np.testing.assert_array_equal(
        picture[:, 64 * 4 : 64 * 5], colorize_task("normals", results["gt_normals"])
    )
