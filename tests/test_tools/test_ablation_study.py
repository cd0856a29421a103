"""tools/analysis_tools/ablation_study.py: the run configs of the variants,
and the whole study end to end at a tiny size (--quick, 8 scenes, 1 epoch):
every variant in the table with finite numbers, Delta_m as defined, the plot,
and a second invocation that trains nothing but the run it lost."""

import json
import math
import os

import pytest
from PIL import Image
from tool_loader import load_tool

TOOL = load_tool("analysis_tools/ablation_study")
TINY = ["--quick", "--num-samples", "8", "--val-samples", "4", "--epochs", "1"]


def test_run_configs_apply_the_variant_the_seed_and_the_sizes():
    args = TOOL.parse_args(TINY + ["--seeds", "3"])
    full = TOOL.run_config(args, "mtcp", 3)
    assert full.randomness.seed == 3
    assert full.model.use_cfm and full.model.use_srm
    assert full.model.weighting.mode == "lps"
    assert full.train_dataloader.dataset.num_samples == 8
    assert full.val_dataloader.dataset.num_samples == 4
    assert full.train_cfg.max_epochs == 1
    assert full.param_scheduler[0].end == 1
    # validation happens once, after training, in the run itself
    assert full.train_cfg.val_begin > full.train_cfg.max_epochs
    assert "save_best" not in full.default_hooks.checkpoint

    no_cfm_srm = TOOL.run_config(args, "wo_cfm_srm", 0)
    assert not no_cfm_srm.model.use_cfm and not no_cfm_srm.model.use_srm
    assert TOOL.run_config(args, "lps_log", 0).model.weighting.mode == "log"
    assert TOOL.run_config(args, "cfm_kv2", 0).model.cfm.kv_downsample == 2

    single = TOOL.run_config(args, "st_depth", 0)
    assert single.model.tasks == ["depth"]
    assert single.train_dataloader.dataset.tasks == ["depth"]
    assert single.val_dataloader.dataset.tasks == ["depth"]
    assert single.val_evaluator.tasks == ["depth"]
    assert single.model.weighting.mode == "equal" and single.custom_hooks == []


def test_quick_presets_and_full_defaults():
    quick = TOOL.parse_args(["--quick"])
    assert quick.seeds == [0] and quick.epochs == 2 and quick.num_samples == 64
    full = TOOL.parse_args([])
    assert full.seeds == [0, 1, 2] and full.epochs is None
    assert full.variants == list(TOOL.VARIANTS) and len(full.variants) == 11
    with pytest.raises(SystemExit):
        TOOL.parse_args(["--variants", "no_such_variant"])


def table_rows(text):
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0] != "variant":
            rows[cells[0]] = cells[1:]
    return rows


def test_quick_study_end_to_end_and_resume(tmp_path, capsys):
    work_dir = str(tmp_path / "study")
    TOOL.main(TINY + ["--work-dir", work_dir])
    printed = capsys.readouterr().out
    assert "11 runs to do" in printed
    with open(os.path.join(work_dir, "ablation_table.md")) as f:
        table = f.read()
    rows = table_rows(table)
    labels = {label for label, _ in TOOL.VARIANTS.values()}
    assert set(rows) == labels | {TOOL.CHANCE}
    chance = [float(c) for c in rows[TOOL.CHANCE] if c != "–"]
    assert len(chance) == 4 and all(math.isfinite(x) for x in chance)
    for variant, (label, _) in TOOL.VARIANTS.items():
        # cells: seeds, one per metric column, Delta_m, minutes a run; a
        # single-task row has only its own task's metrics and no Delta_m
        cells = rows[label]
        tasks = [variant[3:]] if variant.startswith("st_") else TOOL.TASKS
        present = [True] + [key.split("/")[0] in tasks for key, _, _ in TOOL.COLUMNS]
        present += [not variant.startswith("st_"), True]
        assert [c != "–" for c in cells] == present, (label, cells)
        numbers = [float(c) for c in cells if c != "–"]
        assert all(math.isfinite(x) for x in numbers), (label, cells)
    assert Image.open(os.path.join(work_dir, "ablation_delta_m.png")).size[0] > 100

    # Delta_m as defined, from the runs' own metrics
    with open(os.path.join(work_dir, "summary.json")) as f:
        summary = json.load(f)
    runs = summary["runs"]
    st = {t: runs[f"st_{t}"][0] for t in TOOL.TASKS}
    mtcp = runs["mtcp"][0]
    expected = (
        100
        / 3
        * (
            (mtcp["semseg/mIoU"] - st["semseg"]["semseg/mIoU"])
            / st["semseg"]["semseg/mIoU"]
            - (mtcp["depth/rmse"] - st["depth"]["depth/rmse"])
            / st["depth"]["depth/rmse"]
            - (mtcp["normals/mean"] - st["normals"]["normals/mean"])
            / st["normals"]["normals/mean"]
        )
    )
    assert mtcp["delta_m"] == pytest.approx(expected, rel=1e-9)

    # a lost result: the run resumes from its checkpoint (no training left)
    # and validates again; the finished runs are skipped
    os.remove(os.path.join(work_dir, "mtcp", "seed0", "metrics.json"))
    TOOL.main(TINY + ["--work-dir", work_dir])
    assert "1 runs to do" in capsys.readouterr().out
    with open(os.path.join(work_dir, "mtcp", "seed0", "run.log")) as f:
        assert "resumed epoch: 1, iter: 2" in f.read()
    with open(os.path.join(work_dir, "mtcp", "seed0", "metrics.json")) as f:
        again = json.load(f)
    for key in ("semseg/mIoU", "depth/rmse", "normals/mean"):
        assert again[key] == pytest.approx(mtcp[key], abs=1e-6), key
