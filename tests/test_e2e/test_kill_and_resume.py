"""Demo trainings SIGKILLed and resumed through tools/train.py.

- A run killed after epoch 2 and resumed to epoch 4 ends bit for bit where
  the straight 4-epoch run ends (every tensor of the final checkpoint, every
  logged loss, LPS weight and validation score), with persistent data
  workers in the killed run and none in the straight one.
- 0 and 2 data workers give the same losses.
- A kill in the middle of a checkpoint write (made slow by
  ``slow_checkpoint_write``), with ``max_keep_ckpts=1`` and ``save_best``,
  leaves a loadable last and best checkpoint, and the run resumes.

The demo is shrunk to 8 training and 4 validation scenes (2 iterations an
epoch), validated every epoch. Eight training processes: marked slow, run by
``.ci/run`` (``pytest -m slow``).
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from checkpoint_helpers import tensors
from mmengine.runner.checkpoint import _load_checkpoint

import mtcp  # noqa: F401  (safe loading of mmengine checkpoints)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CONFIG = str(REPO / "configs" / "mtcp_demo.py")
TINY = [
    "train_dataloader.dataset.num_samples=8",
    "val_dataloader.dataset.num_samples=4",
    "train_cfg.val_interval=1",
    "train_cfg.max_epochs=4",
    "randomness.deterministic=True",
    "default_hooks.logger.interval=1",
]
WORKERS = [
    "train_dataloader.num_workers=2",
    "train_dataloader.persistent_workers=True",
]
# The demo with slow_checkpoint_write imported (custom_imports are imported
# when a config file is read, not from --cfg-options) and its checkpoint
# hook: every validation a new best.
KILL_CONFIG = f"""
_base_ = [{CONFIG!r}]
custom_imports = dict(
    imports=["mtcp", "slow_checkpoint_write"], allow_failed_imports=False
)
default_hooks = dict(
    checkpoint=dict(
        type="EveryEpochBestCheckpointHook", rule="always", max_keep_ckpts=1
    )
)
"""
BEST = "best_semseg_mIoU_epoch_{}.pth"
NOT_COMPARED = {"time", "data_time", "eta"}


def environment(slow_file=None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(HERE), env.get("PYTHONPATH", "")]
    )
    env.pop("MTCP_TEST_SLOW_WRITE", None)
    if slow_file is not None:
        env["MTCP_TEST_SLOW_WRITE"] = slow_file
    return env


def train(
    work_dir, options, resume=False, until=None, slow_file=None, config=CONFIG
) -> str:
    """Run tools/train.py; with ``until`` (a callable of the log text), SIGKILL
    it (and its data workers) as soon as ``until`` holds. Returns the log."""
    args = [sys.executable, "tools/train.py", str(config)]
    args += ["--work-dir", str(work_dir)]
    args += ["--resume"] if resume else []
    log_path = Path(str(work_dir) + f".{time.monotonic_ns()}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            args + ["--cfg-options", *options],
            cwd=REPO,
            env=environment(slow_file),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            if until is not None and until(log_path.read_text()):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return log_path.read_text()
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log_path.read_text()
    assert until is None, "the run ended before it could be killed:\n" + text[-3000:]
    assert proc.returncode == 0, text[-5000:]
    return text


def last_checkpoint(work_dir) -> str:
    path = Path(work_dir) / "last_checkpoint"
    return path.read_text() if path.exists() else ""


def records(work_dir) -> dict:
    """Logged scalars of all runs in ``work_dir`` by (step, keys); a later
    run's record replaces an earlier one."""
    found = {}
    for path in sorted(glob.glob(f"{work_dir}/*/vis_data/scalars.json")):
        for line in open(path):
            record = json.loads(line)
            values = {k: v for k, v in record.items() if k not in NOT_COMPARED}
            found[(record["step"], tuple(sorted(values)))] = values
    return found


@pytest.fixture(scope="module")
def straight_and_resumed(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    straight, resumed = root / "straight", root / "resumed"
    train(straight, TINY)
    killed_log = train(
        resumed,
        TINY + WORKERS,
        until=lambda log: (
            "epoch_2.pth"
            in (
                last_checkpoint(resumed)
                if (resumed / "last_checkpoint").exists()
                else ""
            )
        ),
    )
    resumed_log = train(resumed, TINY + WORKERS, resume=True)
    return dict(
        straight=straight,
        resumed=resumed,
        killed_log=killed_log,
        resumed_log=resumed_log,
    )


def test_resumed_run_equals_the_straight_run(straight_and_resumed):
    runs = straight_and_resumed
    assert "Epoch(train) [1]" not in runs["resumed_log"]
    assert "Epoch(train) [3]" in runs["resumed_log"]

    final = [
        _load_checkpoint(str(runs[name] / "epoch_4.pth"))
        for name in ("straight", "resumed")
    ]
    straight, resumed = (dict(tensors(ckpt)) for ckpt in final)
    assert straight.keys() == resumed.keys()
    assert any(key.startswith("/optimizer/state") for key in straight)
    differences = {
        key: (straight[key].double() - resumed[key].double()).abs().max().item()
        for key in straight
        if straight[key].numel()
    }
    assert max(differences.values()) == 0, {k: d for k, d in differences.items() if d}
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key

    # every loss, weight, learning rate and validation score logged from
    # epoch 3 on, and the LPS weights of periods 3 and 4
    logged, reference = records(runs["resumed"]), records(runs["straight"])
    later = {key: value for key, value in logged.items() if key[0] > 4}
    lps = [key for key in later if "weight/semseg" in later[key]]
    assert [key[0] for key in sorted(lps)] == [6, 8]
    assert any("loss" in later[key] for key in later)
    for key, values in later.items():
        assert values == reference[key], key


def test_data_workers_do_not_change_the_losses(straight_and_resumed):
    # the killed run loaded its data with 2 persistent workers, the straight
    # run in the main process
    with_workers = records(straight_and_resumed["resumed"])
    without = records(straight_and_resumed["straight"])
    first_epoch = [key for key in without if key[0] <= 2 and "loss" in key[1]]
    assert len(first_epoch) == 2
    for key in first_epoch:
        assert with_workers[key] == without[key], key


def final_tensors_equal(first, second) -> None:
    """Every tensor of the two runs' epoch_4.pth is identical."""
    final = [
        dict(tensors(_load_checkpoint(str(Path(run) / "epoch_4.pth"))))
        for run in (first, second)
    ]
    assert final[0].keys() == final[1].keys()
    for key in final[0]:
        assert torch.equal(final[0][key], final[1][key]), key


def test_resume_without_a_configured_seed(tmp_path):
    """With no randomness.seed, mmengine draws one; a resumed run goes on with
    it (sampler included) and ends where a straight run with that seed ends."""
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    unseeded = TINY + ["randomness.seed=None"]
    train(
        killed,
        unseeded,
        until=lambda log: "epoch_2.pth" in last_checkpoint(killed),
    )
    meta = _load_checkpoint(str(killed / "epoch_2.pth"))["meta"]
    train(killed, unseeded, resume=True)
    train(straight, TINY + [f"randomness.seed={meta['seed']}"])
    final_tensors_equal(killed, straight)


def check_loadable(path) -> dict:
    checkpoint = _load_checkpoint(str(path))
    assert any(
        key.endswith("weighting._extra_state") for key in checkpoint["state_dict"]
    )
    return checkpoint


def checkpoint_files(work_dir) -> list:
    return sorted(p.name for p in Path(work_dir).iterdir() if ".pth" in p.name)


def test_kill_during_a_checkpoint_write_loses_nothing(tmp_path):
    work_dir = tmp_path / "run"
    config = tmp_path / "demo_slow_write.py"
    config.write_text(KILL_CONFIG)

    # 1. killed while writing epoch_2.pth: epoch 1 and its best are intact
    log = train(
        work_dir,
        TINY,
        config=config,
        slow_file="epoch_2.pth.writing",
        until=lambda log: "SLOW WRITE STARTED" in log,
    )
    assert checkpoint_files(work_dir) == [
        BEST.format(1),
        "epoch_1.pth",
        "epoch_2.pth.writing",
    ], log[-3000:]
    assert last_checkpoint(work_dir) == str(work_dir / "epoch_1.pth")
    check_loadable(work_dir / "epoch_1.pth")
    check_loadable(work_dir / BEST.format(1))

    # 2. resumed, then killed while writing the new best of epoch 3: the
    # best of epoch 2 is intact and recorded by epoch_3.pth
    log = train(
        work_dir,
        TINY,
        config=config,
        resume=True,
        slow_file=BEST.format(3) + ".writing",
        until=lambda log: "SLOW WRITE STARTED" in log,
    )
    assert "Epoch(train) [2]" in log and "Epoch(train) [1]" not in log
    assert checkpoint_files(work_dir) == [
        BEST.format(2),
        BEST.format(3) + ".writing",
        "epoch_3.pth",
    ], log[-3000:]
    assert last_checkpoint(work_dir) == str(work_dir / "epoch_3.pth")
    last = check_loadable(work_dir / "epoch_3.pth")
    assert last["message_hub"]["runtime_info"]["best_ckpt"] == str(
        work_dir / BEST.format(2)
    )
    check_loadable(work_dir / BEST.format(2))

    # 3. resumed to the end: the partial file is gone, one checkpoint and
    # one best are left
    log = train(work_dir, TINY, config=config, resume=True)
    assert "left by an interrupted save" in log
    assert checkpoint_files(work_dir) == [BEST.format(4), "epoch_4.pth"]
    check_loadable(work_dir / BEST.format(4))
