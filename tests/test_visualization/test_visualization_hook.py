from types import SimpleNamespace

import mmcv
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import HOOKS

import mtcp  # noqa: F401
from mtcp.engine.hooks import MultiTaskVisualizationHook
from mtcp.structures import MultiTaskDataSample
from mtcp.visualization import MultiTaskVisualizer

H, W = 40, 64


def make_batch(names):
    inputs, samples = [], []
    for i, name in enumerate(names):
        # packed BGR image padded by 4 rows beyond img_shape
        img = torch.zeros(3, H + 4, W, dtype=torch.uint8)
        img[0] = 10 * (i + 1)  # blue channel in BGR
        inputs.append(img)
        sample = MultiTaskDataSample(
            metainfo=dict(img_path=f"synthetic://nyud/0/{name}", img_shape=(H, W))
        )
        sample.set_gt("depth", PixelData(data=torch.ones(1, H, W)))
        sample.set_pred("depth", PixelData(data=torch.ones(1, H, W) * 2))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples), samples


@pytest.fixture
def visualizer():
    return MultiTaskVisualizer.get_instance(
        "test_hook_vis", dataset_meta=dict(palette=[(0, 0, 0)]), legend=False
    )


def test_registered():
    assert HOOKS.get("MultiTaskVisualizationHook") is MultiTaskVisualizationHook


def test_test_iter_writes_every_sample_to_out_dir(tmp_path, visualizer):
    hook = MultiTaskVisualizationHook(draw=True, out_dir=str(tmp_path))
    runner = SimpleNamespace(iter=0)
    data_batch, outputs = make_batch(["a", "b"])
    hook.after_test_iter(runner, 0, data_batch, outputs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]
    panel = mmcv.imread(str(tmp_path / "b.png"), channel_order="rgb")
    # input tile cropped to img_shape; depth GT and pred tiles beside it
    assert panel.shape == (2 * H, 2 * W, 3)
    # the packed BGR input becomes RGB: blue channel 20 for the 2nd image
    assert panel[H - 1, W - 1].tolist() == [0, 0, 20]


def test_val_iter_draws_every_interval_th_sample(tmp_path, visualizer):
    hook = MultiTaskVisualizationHook(draw=True, interval=3, out_dir=str(tmp_path))
    runner = SimpleNamespace(iter=7)
    hook.before_val_epoch(runner)
    for batch_idx, names in enumerate([["0", "1"], ["2", "3"], ["4", "5"]]):
        data_batch, outputs = make_batch(names)
        hook.after_val_iter(runner, batch_idx, data_batch, outputs)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "val_iter7_0.png",
        "val_iter7_3.png",
    ]


def test_draw_false_draws_nothing(tmp_path, visualizer):
    hook = MultiTaskVisualizationHook(draw=False, out_dir=str(tmp_path))
    data_batch, outputs = make_batch(["a"])
    hook.after_test_iter(SimpleNamespace(iter=0), 0, data_batch, outputs)
    hook.after_val_iter(SimpleNamespace(iter=0), 0, data_batch, outputs)
    assert not list(tmp_path.iterdir())


def test_bad_interval(visualizer):
    with pytest.raises(ValueError, match="interval"):
        MultiTaskVisualizationHook(interval=0)


def test_input_image_conversion():
    data_batch, outputs = make_batch(["a"])
    img = MultiTaskVisualizationHook._input_image(data_batch, 0, outputs[0])
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [0, 0, 10]
