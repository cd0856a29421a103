"""tools/analysis_tools/analyze_logs.py: which records become which curves,
the PNG it draws, and errors that name the problem."""

import json

import pytest
from PIL import Image
from tool_loader import load_tool

TOOL = load_tool("analysis_tools/analyze_logs")
PERIODS = [
    {
        "weight/semseg": w,
        "weight/depth": 2 - w,
        "period_loss/semseg": 1 / s,
        "period_loss/depth": 0.5,
        "step": s,
    }
    for s, w in [(100, 1.0), (200, 0.7), (300, 0.5)]
]


def write_lines(path, records, tail=""):
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
        f.write(tail)


def test_records_sorted_into_weights_losses_and_metrics(tmp_path, capsys):
    path = tmp_path / "scalars.json"
    records = [
        {"loss": 3.0, "semseg.loss": 2.0, "weight.semseg": 1.0, "epoch": 1, "step": 1},
        {"train/semseg.aux_8.loss": 2.5, "train/depth.loss": 1.5, "step": 1},
        {"weight/semseg": 0.9, "period_loss/semseg": 0.5, "step": 4},
        {"semseg/mIoU": 30.0, "normals/11.25": 40.0, "data_time": 0.1, "step": 1},
        # a resumed run writes step 4 again: the later record wins
        {"weight/semseg": 0.8, "step": 4},
        {"val/semseg/mIoU": 35.0, "step": 2},
    ]
    # a run killed while writing leaves a truncated last line
    write_lines(path, records, tail='{"weight/semseg": 0.')
    series, by_epoch = TOOL.load_scalars(str(path))
    assert by_epoch  # the training records carry an epoch
    assert series["period_weight"] == {"semseg": [(4, 0.8)]}
    assert series["period_loss"] == {"semseg": [(4, 0.5)]}
    assert series["iter_weight"] == {"semseg": [(1, 1.0)]}
    # the aux heads' losses are not the task's loss
    assert series["iter_loss"] == {"semseg": [(1, 2.0)], "depth": [(1, 1.5)]}
    assert series["metric"] == {
        "semseg/mIoU": [(1, 30.0), (2, 35.0)],
        "normals/11.25": [(1, 40.0)],
    }
    assert "Skipped 1 unreadable line(s)" in capsys.readouterr().out


def test_draws_every_panel_and_picks_the_newest_run(tmp_path):
    for run, scale in (("20240101_000000", 9.0), ("20240102_000000", 1.0)):
        (tmp_path / run / "vis_data").mkdir(parents=True)
        metrics = [
            {"semseg/mIoU": 20.0 * scale, "depth/rmse": 1.0, "step": s} for s in (1, 2)
        ]
        write_lines(tmp_path / run / "vis_data" / "scalars.json", PERIODS + metrics)
    assert TOOL.find_scalars_file(str(tmp_path)).endswith(
        "20240102_000000/vis_data/scalars.json"
    )
    out = tmp_path / "curves.png"
    TOOL.main([str(tmp_path), "--out", str(out), "--dpi", "50"])
    with Image.open(out) as image:
        assert image.size == (400, 450)  # 8 x (3 rows x 3) inches at 50 dpi
    out2 = tmp_path / "two.png"
    TOOL.main([str(tmp_path), "--out", str(out2), "--panels", "weights", "losses"])
    with Image.open(out2) as image:
        assert image.size == (800, 600)
    # the log variables when the run has no TaskWeightingHook records
    path = tmp_path / "iter.json"
    write_lines(path, [{"weight.semseg": 1.0, "semseg.loss": 2.0, "step": 1}])
    TOOL.main([str(path), "--out", str(out), "--size", "6", "4", "--dpi", "50"])
    with Image.open(out) as image:
        assert image.size == (300, 200)


def test_errors_name_the_problem(tmp_path):
    path = tmp_path / "scalars.json"
    write_lines(path, [{"loss": 1.0, "step": 1}])
    with pytest.raises(ValueError, match="no 'weight/<task>'"):
        TOOL.main([str(path), "--out", str(tmp_path / "x.png")])
    write_lines(path, PERIODS)
    with pytest.raises(ValueError, match=r"--tasks \['normals'\]"):
        TOOL.main([str(path), "--out", str(tmp_path / "x.png"), "--tasks", "normals"])
    with pytest.raises(ValueError, match=r"--metrics \['depth/rmse'\]"):
        TOOL.main(
            [str(path), "--out", str(tmp_path / "x.png"), "--metrics", "depth/rmse"]
        )
    with pytest.raises(FileNotFoundError, match="scalars.json"):
        TOOL.main([str(tmp_path / "missing_dir")])
