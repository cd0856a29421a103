"""The legends the task kinds give for panels (``BaseTaskKind.legend``)."""

import numpy as np
import pytest

from mtcp.tasks import task_kind

PALETTE = [(10, 20, 30), (40, 50, 60), (70, 80, 90)]


def test_class_map_lists_present_classes_by_area_with_names():
    seg = np.array([[[2, 2, 2, 0, 255, 255]]])
    legend = task_kind("semseg").legend(seg, PALETTE, ("wall", "floor", "bed"))
    assert list(legend.swatches) == [("bed", (70, 80, 90)), ("wall", (10, 20, 30))]
    assert legend.ramp is None and legend.texts == ["bed", "wall"]
    # without names, the class indices; human parts are class maps too
    legend = task_kind("parts").legend(seg, PALETTE)
    assert [name for name, _ in legend.swatches] == ["2", "0"]
    with pytest.raises(ValueError, match="palette entry for every class"):
        task_kind("semseg").legend(seg, PALETTE[:2])


def test_depth_colour_bar_in_metres_over_the_colourised_range():
    depth = np.array([[0.0, 1.5, 2.0, 4.5]], dtype=np.float32)
    kind = task_kind("depth")
    legend = kind.legend(depth)
    assert list(legend.ticks) == [(0.0, "1.50 m"), (0.5, "3.00 m"), (1.0, "4.50 m")]
    picture = kind.colorize(depth)
    # the bar's ends are the colours of the nearest and farthest pixels
    assert legend.ramp.shape == (256, 3)
    assert legend.ramp[0].tolist() == picture[0, 1].tolist()
    assert legend.ramp[-1].tolist() == picture[0, 3].tolist()
    # a fixed range, as colorize's vmin / vmax
    assert kind.legend(depth, vmin=0.5, vmax=10.0).ticks[2] == (1.0, "10.00 m")
    assert kind.legend(np.zeros((2, 2), np.float32)) is None


def test_probability_bar_and_no_legend_for_normals():
    for task in ("saliency", "edge"):
        legend = task_kind(task).legend(np.zeros((1, 2, 2)))
        assert [text for _, text in legend.ticks] == ["0", "0.5", "1"]
        assert legend.ramp[0].tolist() == [0, 0, 0]
        assert legend.ramp[-1].tolist() == [255, 255, 255]
    assert task_kind("normals").legend(np.zeros((3, 2, 2))) is None
    assert task_kind("semseg").overlay and task_kind("parts").overlay
    assert not task_kind("depth").overlay
