"""Two gloo processes through tools/dist_train.sh (torchrun), toy model.

- SIGTERM sent to rank 1 only: both ranks stop after the same iteration,
  rank 0 writes the checkpoint, the ranks exit with status 75 (torchrun may
  end the second one first), and a run resumed with --resume ends with
  exactly the weights of an uninterrupted run.
- SIGUSR1 sent to torchrun (``sbatch --signal=USR1@...``): forwarded, the
  same stop.
- Rank 1 SIGKILLed mid-epoch: rank 0 fails at its next collective, torchrun
  ends the job, within a bounded time, naming the killed rank.
- A NaN batch on rank 1 only: both ranks stop at the same iteration.

Each iteration sleeps 0.3 s (``SlowTrainingHook``) and prints its rank, pid
and iteration, so that the test can act in the middle of the first epoch.
Six multi-process runs: marked slow.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint

import mtcp  # noqa: F401  (safe loading of mmengine checkpoints)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# 40 samples, 2 processes, batch 2: 10 iterations an epoch; 2 epochs
OPTIONS = ["train_dataloader.dataset.num_samples=40", "randomness.seed=0"]

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_config(toy_config) -> Path:
    path = toy_config.parent / "toy_slow.py"
    path.write_text(
        f"_base_ = [{str(toy_config)!r}]\n"
        'custom_hooks = [dict(type="SlowTrainingHook", seconds=0.3)]\n'
    )
    return path


def dist_train(config, work_dir, *extra, act=None, timeout=300):
    """Run tools/dist_train.sh with 2 processes; ``act(output)`` is called
    on the output so far until it returns True. Returns (status, output)."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        PORT=str(29500 + (os.getpid() + time.monotonic_ns()) % 1000),
    )
    out_path = Path(f"{work_dir}.{time.monotonic_ns()}.out")
    with open(out_path, "w") as out:
        proc = subprocess.Popen(
            ["bash", str(REPO / "tools/dist_train.sh"), str(config), "2"]
            + ["--work-dir", str(work_dir), *extra, "--cfg-options", *OPTIONS],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if act is not None and act(out_path.read_text()):
                act = None
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out_path.read_text()


def when_rank1_reaches(iteration: int, sig: int, sent: dict):
    """An ``act`` sending ``sig`` to rank 1 once it printed ``iteration``."""

    def act(output: str) -> bool:
        found = re.search(rf"ITER rank=1 pid=(\d+) iter={iteration}\b", output)
        if found:
            sent["pid"], sent["time"] = int(found.group(1)), time.monotonic()
            os.kill(sent["pid"], sig)
        return bool(found)

    return act


def last_iterations(output: str) -> dict:
    """The last iteration each rank printed."""
    return {
        int(rank): int(iteration)
        for rank, iteration in re.findall(r"ITER rank=(\d) pid=\d+ iter=(\d+)", output)
    }


def test_signal_to_one_rank_stops_both_and_resumes_exactly(slow_config, tmp_path):
    work_dir, sent = tmp_path / "run", {}
    status, output = dist_train(
        slow_config, work_dir, act=when_rank1_reaches(3, signal.SIGTERM, sent)
    )
    # torchrun fails: the first rank to exit reports 75 (torchrun may stop the
    # other with SIGTERM as soon as it sees that, after the checkpoint)
    assert status != 0
    assert re.search(r"exitcode\s*: 75 ", output), output[-4000:]
    stopped = re.search(
        r"Stopping on a signal received by another rank: writing a checkpoint "
        r"of iteration (\d+)",
        output,
    )
    assert stopped, output[-4000:]
    iteration = int(stopped.group(1))
    assert 3 <= iteration < 10
    # both ranks ran the same iterations
    assert last_iterations(output) == {0: iteration, 1: iteration}
    checkpoint = work_dir / f"iter_{iteration}.pth"
    assert (work_dir / "last_checkpoint").read_text() == str(checkpoint)

    status, output = dist_train(slow_config, work_dir, "--resume")
    assert status == 0, output[-4000:]
    assert f"Resuming epoch 1 at its batch {iteration + 1} of 10" in output
    straight = tmp_path / "straight"
    status, output = dist_train(slow_config, straight)
    assert status == 0, output[-4000:]
    resumed, reference = (
        _load_checkpoint(str(run / "epoch_2.pth"))["state_dict"]
        for run in (work_dir, straight)
    )
    assert resumed.keys() == reference.keys()
    for key in reference:
        assert torch.equal(resumed[key], reference[key]), key


def test_killed_rank_ends_the_other_in_bounded_time(slow_config, tmp_path):
    sent = {}
    status, output = dist_train(
        slow_config, tmp_path / "run", act=when_rank1_reaches(3, signal.SIGKILL, sent)
    )
    elapsed = time.monotonic() - sent["time"]
    assert status != 0
    # gloo: rank 0's next collective fails at once; torchrun then stops it
    # (SIGTERM, SIGKILL 30 s later at the latest)
    assert elapsed < 45, elapsed
    assert f"Signal 9 (SIGKILL) received by PID {sent['pid']}" in output
    assert "Rank 0 of 2: training failed with the error below." in output
    assert "Last complete checkpoint: none was written; restart with --resume" in output


def test_sigusr1_to_torchrun_reaches_the_processes(slow_config, tmp_path):
    """`sbatch --signal=USR1@...` under dist_train.sh: torchrun forwards
    SIGUSR1 (dist_launch.sh adds it to the signals torchrun handles)."""
    work_dir, sent = tmp_path / "run", {}

    def to_torchrun(output: str) -> bool:
        found = re.search(r"ITER rank=1 pid=(\d+) iter=3\b", output)
        if found:
            # the workers' parent is torchrun
            stat = Path(f"/proc/{found.group(1)}/stat").read_text()
            sent["pid"] = int(stat.rsplit(")", 1)[1].split()[1])
            os.kill(sent["pid"], signal.SIGUSR1)
        return bool(found)

    status, output = dist_train(slow_config, work_dir, act=to_torchrun)
    assert status != 0
    assert f"Process {sent['pid']} got signal: 10" in output
    stopped = re.search(r"Training stopped by SIGUSR1 after iteration (\d+)", output)
    assert stopped, output[-4000:]
    iteration = int(stopped.group(1))
    assert last_iterations(output) == {0: iteration, 1: iteration}
    checkpoint = work_dir / f"iter_{iteration}.pth"
    assert (work_dir / "last_checkpoint").read_text() == str(checkpoint)


def test_nan_on_one_rank_stops_both_at_the_same_iteration(toy_config, tmp_path):
    """A NaN loss on rank 1 only: both ranks refuse the step (no rank is left
    waiting in the gradient all-reduce) and stop with the message."""
    config = toy_config.parent / "toy_nan.py"
    config.write_text(
        f"_base_ = [{str(toy_config)!r}]\n"
        "custom_hooks = [\n"
        '    dict(type="SlowTrainingHook", seconds=0.0),\n'
        '    dict(type="NaNInputsOnRankHook", iteration=3, rank=1),\n'
        "]\n"
    )
    start = time.monotonic()
    status, output = dist_train(config, tmp_path / "run")
    assert status != 0
    assert time.monotonic() - start < 120
    # rank 0's message (rank 1's goes to its own stderr, shown by torchrun)
    assert (
        "NonFiniteLossError: Non-finite training loss at iteration 3 (epoch 1, "
        "batch 3 of 10): none on this rank (another rank's loss was non-finite)"
        in output
    ), output[-4000:]
    assert (
        "Non-finite training loss at iteration 3 (epoch 1, batch 3 of 10): loss=nan"
        in output
    )
    assert last_iterations(output) == {0: 2, 1: 2}
