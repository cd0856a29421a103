"""Train and test the toy model through tools/train.py and tools/test.py."""

import os
import subprocess
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
import train
from tool_loader import load_tool

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

test_tool = load_tool("test")


def test_train_then_test_in_process(toy_config, tmp_path):
    work_dir = tmp_path / "wd"
    train.main(
        [
            str(toy_config),
            "--work-dir",
            str(work_dir),
            "--cfg-options",
            "visualizer.name=run_tools_train",
        ]
    )
    ckpt = work_dir / "epoch_2.pth"
    assert ckpt.is_file()
    assert (work_dir / "last_checkpoint").read_text().strip().endswith("epoch_2.pth")

    out, panels = tmp_path / "preds", tmp_path / "panels"
    test_tool.main(
        [
            str(toy_config),
            str(ckpt),
            "--work-dir",
            str(work_dir),
            "--out",
            str(out),
            "--show-dir",
            str(panels),
            "--tta",
            "--cfg-options",
            "visualizer.name=run_tools_test",
        ]
    )
    # the metric saved the predictions of its tasks for the 4 test images
    assert sorted(p.name for p in (out / "depth").iterdir()) == [
        f"{i}.npy" for i in range(4)
    ]
    np.testing.assert_allclose(np.load(out / "depth/0.npy"), 2.0)
    # one panel per test image: GT row (semseg, depth) and prediction row
    # (semseg, depth, normals, saliency), each with its legend strip
    assert sorted(p.name for p in panels.iterdir()) == [f"{i}.png" for i in range(4)]
    panel = mmcv.imread(str(panels / "0.png"))
    assert panel.shape[1:] == (5 * 32, 3) and panel.shape[0] > 2 * 24


@pytest.mark.slow
def test_dist_train_and_test_on_cpu(toy_config, tmp_path):
    """Two processes through torchrun; on a CPU machine they use gloo."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        PORT=str(29500 + os.getpid() % 1000),
    )
    work_dir = tmp_path / "wd"
    result = subprocess.run(
        ["bash", str(REPO / "tools/dist_train.sh"), str(toy_config), "2"]
        + ["--work-dir", str(work_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = next(Path(work_dir).glob("*/*.log")).read_text()
    assert "Distributed training: True" in log
    if not torch.cuda.is_available():
        assert "backend='gloo'" in log
    # 8 samples, 2 processes, batch 2: 2 iterations per epoch and process
    assert "Epoch(train) [2][2/2]" in log
    result = subprocess.run(
        ["bash", str(REPO / "tools/dist_test.sh"), str(toy_config)]
        + [str(work_dir / "epoch_2.pth"), "2", "--work-dir", str(work_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "semseg/mIoU" in result.stdout + result.stderr


def test_shell_scripts_parse_and_check_arguments():
    for name in ("dist_train.sh", "dist_test.sh", "slurm_train.sh", "slurm_test.sh"):
        script = str(REPO / "tools" / name)
        assert subprocess.run(["bash", "-n", script]).returncode == 0
        result = subprocess.run(["bash", script], capture_output=True, text=True)
        assert result.returncode == 2 and "usage:" in result.stderr


def test_slurm_train_has_mmseg_signature(tmp_path):
    """PARTITION JOB_NAME CONFIG, then train.py's own options, work dir included."""
    fake_srun = tmp_path / "srun"
    fake_srun.write_text('#!/usr/bin/env bash\necho "srun $*"\n')
    fake_srun.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}", GPUS="8")
    result = subprocess.run(
        ["bash", str(REPO / "tools/slurm_train.sh"), "part", "job", "cfg.py"]
        + ["--work-dir", "wd", "--resume"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("srun -p part --job-name=job --gres=gpu:4 --ntasks=8")
    assert line.endswith("train.py cfg.py --launcher=slurm --work-dir wd --resume")


@pytest.mark.parametrize("status, requeued", [(75, True), (1, False), (0, False)])
def test_slurm_train_requeues_a_preempted_job(tmp_path, status, requeued):
    """Exit status 75 of train.py (a pre-emption checkpoint) inside a batch
    job: the job is requeued with scontrol; the status is passed on."""
    (tmp_path / "srun").write_text(f"#!/usr/bin/env bash\nexit {status}\n")
    calls = tmp_path / "scontrol.calls"
    (tmp_path / "scontrol").write_text(f'#!/usr/bin/env bash\necho "$*" >> {calls}\n')
    for name in ("srun", "scontrol"):
        (tmp_path / name).chmod(0o755)
    env = dict(
        os.environ,
        PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        SLURM_JOB_ID="4242",
    )
    result = subprocess.run(
        ["bash", str(REPO / "tools/slurm_train.sh"), "part", "job", "cfg.py"]
        + ["--resume"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == status
    if requeued:
        assert calls.read_text() == "requeue 4242\n"
        assert "requeueing job 4242" in result.stderr
    else:
        assert not calls.exists()
    # outside a batch job, or with REQUEUE=0: never
    for extra in (dict(SLURM_JOB_ID=""), dict(REQUEUE="0")):
        result = subprocess.run(
            ["bash", str(REPO / "tools/slurm_train.sh"), "part", "job", "cfg.py"],
            env=dict(env, **extra),
            capture_output=True,
            text=True,
        )
        assert result.returncode == status
    assert not requeued or calls.read_text() == "requeue 4242\n"
