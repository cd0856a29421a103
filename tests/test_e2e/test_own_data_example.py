"""The "Train on your own data" example of docs/data.md, run as written: a
folder dataset where half the images have no depth map, checked, then the
tiny model trained for 20 iterations with LPS and validated once."""

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import load_checkpoint
from mmseg.registry import DATASETS, MODELS

from mtcp.evaluation.metrics.depth_meter import DepthMeter
from mtcp.models.weighting import LPS
from mtcp.utils import safe_checkpoint_loading

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Train on your own data"
CONFIG = "configs/examples/mtcp_own_data.py"


def doc_blocks(language: str):
    """The fenced ``language`` blocks of the section, in order."""
    text = (REPO / "docs" / "data.md").read_text()
    start = text.index(SECTION)
    section = text[start : text.index("\n## ", start + len(SECTION))]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def test_the_config_in_the_docs_is_the_shipped_file():
    (config,) = doc_blocks("python")
    assert config == (REPO / CONFIG).read_text()


def as_command(line: str):
    """The documented command with the repo's scripts and configs."""
    words = shlex.split(line)
    assert words[0] == "python", line
    return [sys.executable] + [
        str(REPO / w) if w.startswith(("tools/", "configs/")) else w for w in words[1:]
    ]


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """Run the documented commands in a fresh folder; their joined output."""
    workdir = tmp_path_factory.mktemp("own_data")
    (commands,) = doc_blocks("bash")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    outputs = []
    for line in commands.strip().splitlines():
        proc = subprocess.run(
            as_command(line),
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, (line, out[-6000:])
        outputs.append(out)
    return workdir, outputs


def test_example_checks_trains_and_validates(example_run):
    workdir, (_, check_out, train_out) = example_run
    assert "no problem found" in check_out
    counts = "images with a label per task: semseg 8/8, depth 4/8, normals 8/8"
    assert counts in check_out and counts in train_out
    # every logged loss term (total, per task and head, coherence) is finite;
    # the log line groups them by task, the scalars have each under its name
    records = [
        json.loads(line)
        for path in (workdir / "work_dirs/my_robot").glob("*/vis_data/scalars.json")
        for line in path.open()
    ]
    losses = [
        (name, value)
        for record in records
        for name, value in record.items()
        if name.endswith("loss") or name.startswith("coherence.")
    ]
    assert len({name for name, _ in losses}) == 13, losses
    assert all(math.isfinite(value) for _, value in losses), losses
    assert re.search(r"loss: \S+  semseg: \S+ \(aux \S+, coh \S+, w \S+\)", train_out)
    assert "Iter(train) [20/20]" in train_out
    assert "depth results (2 of 4 images with a label)" in train_out
    # the LPS weights of the checkpoint: 4 periods of 5 iterations
    with safe_checkpoint_loading():
        ckpt = torch.load(
            workdir / "work_dirs/my_robot/iter_20.pth", map_location="cpu"
        )
    weighting = LPS(["semseg", "depth", "normals"])
    weighting.set_extra_state(ckpt["state_dict"]["weighting._extra_state"])
    assert weighting.num_periods == 4
    assert all(math.isfinite(w) and w > 0 for w in weighting.weights)
    assert sum(weighting.weights) == pytest.approx(3.0)
    assert weighting.weights != [1.0, 1.0, 1.0]


def test_example_depth_metric_covers_the_labelled_images_only(example_run, monkeypatch):
    workdir, (*_, train_out) = example_run
    logged = {
        k: float(v)
        for k, v in re.findall(r"(depth/\w+): (\S+)", train_out.split("Iter(val)")[-1])
    }
    monkeypatch.chdir(workdir)
    cfg = Config.fromfile(str(REPO / CONFIG))
    model = MODELS.build(cfg.model)
    load_checkpoint(model, "work_dirs/my_robot/iter_20.pth", map_location="cpu")
    model.eval()
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    meter, labelled = DepthMeter(), []
    for index in range(len(dataset)):
        with torch.no_grad():
            (sample,) = model.test_step(pseudo_collate([dataset[index]]))
        gt = sample.gt_depth.data
        has_depth = dataset.get_data_info(index)["ann_paths"]["depth"] is not None
        # an image without a depth file gets an all-invalid map
        assert bool((gt > 0).any()) == has_depth
        labelled.append(has_depth)
        if has_depth:
            meter.update(sample.pred_depth.data, gt)
    assert labelled == [True, False, True, False]
    expected = meter.compute()
    assert logged["depth/rmse"] == pytest.approx(expected["rmse"], abs=1e-4)
    assert logged["depth/abs_rel"] == pytest.approx(expected["abs_rel"], abs=1e-4)
    assert np.isfinite(list(logged.values())).all()
