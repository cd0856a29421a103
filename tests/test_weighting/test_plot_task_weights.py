import json
import os.path as osp
import runpy

import pytest
from PIL import Image

TOOL = runpy.run_path(
    osp.join(
        osp.dirname(__file__),
        "..",
        "..",
        "tools",
        "analysis_tools",
        "plot_task_weights.py",
    )
)


def write_lines(path, records, tail=""):
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
        f.write(tail)


def test_period_records_are_preferred(tmp_path):
    path = tmp_path / "scalars.json"
    write_lines(
        path,
        [
            {"loss": 3.0, "semseg.loss": 2.0, "weight.semseg": 1.0, "step": 1},
            {
                "weight/semseg": 1.0,
                "weight/depth": 1.0,
                "period_loss/semseg": 0.9,
                "period_loss/depth": 0.4,
                "step": 2,
            },
            {
                "weight/semseg": 0.6,
                "weight/depth": 1.4,
                "period_loss/semseg": 0.5,
                "period_loss/depth": 0.35,
                "step": 4,
            },
        ],
        # A run killed while writing leaves a truncated last line.
        tail='{"weight/semseg": 0.',
    )
    weights, losses, source = TOOL["load_task_scalars"](str(path))
    assert source == "period"
    assert weights == {"semseg": [(2, 1.0), (4, 0.6)], "depth": [(2, 1.0), (4, 1.4)]}
    assert losses["depth"] == [(2, 0.4), (4, 0.35)]


def test_per_iteration_records_with_hierarchy_prefix(tmp_path):
    path = tmp_path / "scalars.json"
    write_lines(
        path,
        [
            {
                "train/loss": 3.0,
                "train/semseg.loss": 2.0,
                "train/depth.loss": 1.0,
                "train/depth.aux_8.loss": 1.5,
                "train/weight.semseg": 1.0,
                "train/weight.depth": 1.0,
                "step": 10,
            },
            {
                "train/loss": 2.0,
                "train/semseg.loss": 1.0,
                "train/depth.loss": 1.0,
                "train/weight.semseg": 0.8,
                "train/weight.depth": 1.2,
                "step": 20,
            },
            {"mIoU": 0.3, "step": 20},
        ],
    )
    weights, losses, source = TOOL["load_task_scalars"](str(path))
    assert source == "iter"
    assert weights["semseg"] == [(10, 1.0), (20, 0.8)]
    assert losses == {"semseg": [(10, 2.0), (20, 1.0)], "depth": [(10, 1.0), (20, 1.0)]}


def test_main_draws_png_of_the_requested_size(tmp_path):
    path = tmp_path / "scalars.json"
    write_lines(
        path,
        [
            {
                "weight/semseg": w,
                "weight/depth": 2 - w,
                "period_loss/semseg": 1 / s,
                "period_loss/depth": 0.5,
                "step": s,
            }
            for s, w in [(100, 1.0), (200, 0.7), (300, 0.5)]
        ],
    )
    out = tmp_path / "plot.png"
    TOOL["main"]([str(path), "--out", str(out), "--tasks", "depth", "--dpi", "80"])
    with Image.open(out) as image:
        assert image.size == (640, 480)  # 8 x 6 inches at 80 dpi


def test_errors_name_the_problem(tmp_path):
    path = tmp_path / "scalars.json"
    write_lines(path, [{"loss": 1.0, "step": 1}])
    with pytest.raises(ValueError, match="no 'weight/<task>'"):
        TOOL["main"]([str(path), "--out", str(tmp_path / "x.png")])
    write_lines(path, [{"weight/semseg": 1.0, "period_loss/semseg": 1.0, "step": 1}])
    with pytest.raises(ValueError, match="--tasks names \\['depth'\\]"):
        TOOL["main"]([str(path), "--out", str(tmp_path / "x.png"), "--tasks", "depth"])
    with pytest.raises(FileNotFoundError, match="scalars.json"):
        TOOL["main"]([str(tmp_path / "empty_dir_missing")])
