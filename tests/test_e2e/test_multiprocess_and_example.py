"""Multi-process training with the shipped launcher, and the plain mmseg
example config, for a few iterations each."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mtcp.models.weighting import LPS
from mtcp.utils import safe_checkpoint_loading

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **env):
    # one torch thread per process: both processes share 2 cores
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **env)
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def test_dist_train_demo_with_two_cpu_processes(tmp_path):
    out = run(
        [
            "bash",
            "tools/dist_train.sh",
            "configs/mtcp_demo.py",
            "2",
            "--work-dir",
            str(tmp_path),
            "--cfg-options",
            "train_dataloader.dataset.num_samples=16",
            "val_dataloader.dataset.num_samples=4",
            "train_cfg.max_epochs=2",
            "train_cfg.val_interval=2",
        ],
        PORT=str(free_port()),
    )
    assert re.search(r"world_size: 2|Distributed launcher: pytorch", out), out[-3000:]
    # 16 scenes, batch 4 per process, 2 processes: 2 iterations an epoch
    assert "Epoch(train) [2][2/2]" in out
    assert "Epoch(val) [2][1/1]" in out
    with safe_checkpoint_loading():
        ckpt = torch.load(tmp_path / "epoch_2.pth", map_location="cpu")
    # both ranks used the same LPS weights: the all-reduced period means make
    # them identical, and rank 0's copy is the one in the checkpoint
    weighting = LPS(["semseg", "depth", "normals"])
    weighting.set_extra_state(ckpt["state_dict"]["weighting._extra_state"])
    assert weighting.num_periods == 2 and len(weighting.history) == 2
    assert sum(weighting.weights) == pytest.approx(3.0)


def test_mmseg_example_config_trains_with_mmseg_machinery(tmp_path):
    out = run(
        [
            sys.executable,
            "tools/train.py",
            "configs/examples/encoder-decoder_shared-mask2former_fcn_synthetic.py",
            "--work-dir",
            str(tmp_path),
            "--cfg-options",
            "train_cfg.max_iters=4",
            "train_cfg.val_interval=4",
            "default_hooks.checkpoint.interval=4",
            "val_dataloader.dataset.num_samples=4",
        ]
    )
    assert "Iter(val) [1/1]" in out and "mIoU" in out
    with safe_checkpoint_loading():
        ckpt = torch.load(tmp_path / "iter_4.pth", map_location="cpu")
    keys = ckpt["state_dict"]
    # mmseg's EncoderDecoder around mtcp's SharedMask2Former and mmseg's FCNHead
    assert any(k.startswith("backbone.backbone.") for k in keys)
    assert any(k.startswith("decode_head.conv_seg.") for k in keys)
