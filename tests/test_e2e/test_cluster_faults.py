"""What a run on a shared cluster meets, through tools/train.py on the demo.

- A real SIGTERM sent to the training process group (the process and its
  two data workers, as Slurm signals every process of a job step) in the
  middle of an epoch: exit status 75, a checkpoint of the last iteration
  named by ``last_checkpoint``, and ``--resume`` ends bit for bit where the
  straight run ends (every tensor of the final checkpoint, every scalar
  logged after the interruption).
- A batch whose loss is NaN at iteration 6: the run stops with a message
  naming the terms, the iteration and the last checkpoint, which is left
  unchanged; with ``max_skips=1`` the step is skipped and the run finishes.

The demo is shrunk to 16 training scenes (4 iterations an epoch), 3 epochs,
validated every epoch. Five training processes: marked slow.
"""

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from checkpoint_helpers import tensors
from mmengine.runner.checkpoint import _load_checkpoint
from test_kill_and_resume import (
    CONFIG,
    REPO,
    WORKERS,
    environment,
    last_checkpoint,
    records,
)

import mtcp  # noqa: F401  (safe loading of mmengine checkpoints)

pytestmark = pytest.mark.slow

TINY = [
    "train_dataloader.dataset.num_samples=16",
    "val_dataloader.dataset.num_samples=4",
    "train_cfg.val_interval=1",
    "train_cfg.max_epochs=3",
    "randomness.deterministic=True",
    "default_hooks.logger.interval=1",
]
NAN_CONFIG = f"""
_base_ = [{CONFIG!r}]
custom_imports = dict(imports=["mtcp", "fault_injection"], allow_failed_imports=False)
custom_hooks = [dict(type="TaskWeightingHook"), dict(type="NaNBatchHook", iteration=6)]
"""


def start(work_dir, options, config=CONFIG, resume=False):
    """Start tools/train.py in its own process group; returns it and its log."""
    args = [sys.executable, "tools/train.py", str(config), "--work-dir", str(work_dir)]
    args += ["--resume"] if resume else []
    log_path = Path(f"{work_dir}.{time.monotonic_ns()}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            args + ["--cfg-options", *options],
            cwd=REPO,
            env=environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log_path


def finish(proc, log_path, until=None, then=None, timeout=900):
    """Wait for the run; when ``until(log)`` first holds, call ``then()``.
    Returns the exit status and the log."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if until is not None and until(log_path.read_text()):
            then()
            until = None
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode, log_path.read_text()


def run(work_dir, options, **kwargs):
    status, log = finish(*start(work_dir, options, **kwargs))
    assert status == 0, log[-5000:]
    return log


def final_tensors(work_dir) -> dict:
    return dict(tensors(_load_checkpoint(str(Path(work_dir) / "epoch_3.pth"))))


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("straight")
    run(work_dir, TINY)
    return work_dir


def test_sigterm_mid_epoch_then_resume_equals_the_straight_run(straight, tmp_path):
    work_dir = tmp_path / "run"
    proc, log_path = start(work_dir, TINY + WORKERS)
    status, log = finish(
        proc,
        log_path,
        until=lambda log: "Epoch(train) [2][1/4]" in log,
        then=lambda: os.killpg(proc.pid, signal.SIGTERM),
    )
    assert status == 75, log[-5000:]
    stopped = re.search(
        r"Training stopped by SIGTERM after iteration (\d+) \(epoch 2, batch (\d) of 4\)",
        log,
    )
    assert stopped, log[-5000:]
    iteration, batch = int(stopped.group(1)), int(stopped.group(2))
    # in the middle of epoch 2 (iterations 5-8)
    assert iteration in (5, 6, 7) and batch == iteration - 4
    checkpoint = work_dir / f"iter_{iteration}.pth"
    assert last_checkpoint(work_dir) == str(checkpoint)
    meta = _load_checkpoint(str(checkpoint))["meta"]
    assert (meta["epoch"], meta["iter"]) == (1, iteration)
    assert "Traceback" not in log

    log = run(work_dir, TINY + WORKERS, resume=True)
    assert f"Resuming epoch 2 at its batch {batch + 1} of 4" in log
    assert f"Epoch(train) [2][{batch}/4]" not in log
    assert not checkpoint.exists()

    resumed, reference = final_tensors(work_dir), final_tensors(straight)
    assert resumed.keys() == reference.keys()
    assert any(key.endswith("weighting._extra_state") for key in reference)
    for key in reference:
        assert torch.equal(resumed[key], reference[key]), key
    # every loss, weight and learning rate logged after the stop (step: the
    # iteration) and the scores of epochs 2 and 3 (step: the epoch)
    logged, expected = records(work_dir), records(straight)
    later = {
        key: value
        for key, value in logged.items()
        if key[0] > iteration or ("semseg/mIoU" in value and key[0] >= 2)
    }
    assert any("weight/semseg" in value for value in later.values())
    assert any("semseg/mIoU" in value for value in later.values())
    for key, values in later.items():
        assert values == expected[key], key


def test_nan_loss_stops_and_leaves_the_checkpoints(tmp_path):
    config = tmp_path / "demo_nan.py"
    config.write_text(NAN_CONFIG)
    work_dir = tmp_path / "run"
    hashes = {}

    def remember():
        hashes["epoch_1"] = sha256(work_dir / "epoch_1.pth")

    status, log = finish(
        *start(work_dir, TINY, config=config),
        until=lambda log: "Epoch(train) [2][1/4]" in log,
        then=remember,
    )
    assert status == 1, log[-5000:]
    first = work_dir / "epoch_1.pth"
    message = (
        "NonFiniteLossError: Non-finite training loss at iteration 6 (epoch 2, "
        "batch 2 of 4): loss=nan, semseg.aux_16.loss=nan, semseg.aux_8.loss=nan, "
        "semseg.loss=nan, "
    )
    assert message in log, log[-5000:]
    assert (
        f"Training stops before this step changes the weights; the last "
        f"checkpoint, {first}, was written before it and is unchanged." in log
    )
    names = sorted(p.name for p in work_dir.iterdir() if ".pth" in p.name)
    assert names == ["best_semseg_mIoU_epoch_1.pth", "epoch_1.pth"]
    assert last_checkpoint(work_dir) == str(first)
    assert sha256(first) == hashes["epoch_1"]

    # allowed to skip one such step: it is skipped and the run finishes
    work_dir = tmp_path / "skip"
    log = run(
        work_dir, TINY + ["default_hooks.non_finite_loss.max_skips=1"], config=config
    )
    assert (
        "The step was skipped (weights, buffers and optimizer unchanged); 1 of at "
        "most 1 skipped steps used." in log
    )
    for key, value in final_tensors(work_dir).items():
        if value.is_floating_point():
            assert torch.isfinite(value).all(), key
