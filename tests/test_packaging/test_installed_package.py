"""mtcp as a user installs it: a wheel built from this checkout, installed
into a fresh virtualenv without network, used from an empty directory.

The virtualenv sees the dependencies already installed here (torch, mmcv,
mmseg, ...) through ``--system-site-packages``, and gets the wheel with
``pip install --no-index --no-deps --ignore-installed``. The checkout's own
mtcp stays out of it: ``PYTHONPATH`` and ``MTCP_CONFIGS`` are dropped, the
commands run in an empty directory, and an editable install of the checkout
only adds a finder that Python asks after its path search, which finds the
wheel's mtcp first in the virtualenv's site-packages (the test checks
``mtcp.__file__``). The
virtualenv's own pip comes with the setuptools of Python's ``ensurepip``,
whose ``pkg_resources`` mim needs.

With mim installed here (``requirements/mim.txt``) the commands are
``mim train|test|run mtcp ...``; without it, the very commands mim runs:
the package's ``.mim/tools`` scripts on its ``.mim/configs``.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUILD_INPUTS = (
    "setup.py",
    "pyproject.toml",
    "MANIFEST.in",
    "README.md",
    "requirements.txt",
    "requirements",
    "model-index.yml",
    "mtcp",
    "configs",
    "tools",
)
SHORT = [
    "train_dataloader.dataset.num_samples=8",
    "val_dataloader.dataset.num_samples=4",
    "train_cfg.max_epochs=1",
]
INFERENCER = """
import sys, numpy as np
from mtcp.apis import MultiTaskInferencer
inferencer = MultiTaskInferencer("mtcp_demo.py", {ckpt!r}, device="cpu")
(pred,) = inferencer(sys.argv[1], out_dir="api_out")["predictions"]
print(pred["depth"].shape, bool(np.isfinite(pred["depth"]).all()))
"""
USER_CONFIG = """
_base_ = ["{{$MTCP_CONFIGS:}}/mtcp_demo.py"]
test_dataloader = dict(dataset=dict(num_samples=2))
"""


def run(cmd, cwd, env):
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(python, package dir, env, empty dir, has mim)`` of the virtualenv."""
    root = tmp_path_factory.mktemp("installed")
    # this process's PYTHONPATH and MTCP_CONFIGS (set by its `import mtcp`)
    # point at the checkout
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MTCP_CONFIGS")
    }
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PIP_NO_INDEX="1")
    # Build from a copy: building writes mtcp/.mim, build/ and egg-info.
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", ".mim", "*.egg-info")
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(
        pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist"]
        + [source],
        root,
        env,
    )  # fmt: skip
    (wheel,) = (root / "dist").glob("mtcp-*.whl")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", venv], root, env)
    python = venv / "bin" / "python"
    run(
        [python, "-m", "pip", "install", "--no-deps", "--ignore-installed", wheel],
        root,
        env,
    )
    empty = root / "empty"
    empty.mkdir()
    package = run(
        [python, "-c", "import mtcp, os; print(os.path.dirname(mtcp.__file__))"],
        empty,
        env,
    ).splitlines()[-1]
    has_mim = (
        subprocess.run([python, "-c", "import mim"], cwd=empty, env=env).returncode == 0
    )
    return python, Path(package), env, empty, has_mim


def test_the_wheel_carries_configs_tools_and_model_index(installed):
    python, package, env, empty, _ = installed
    assert str(package).startswith(str(python.parents[1])), package
    mim_dir = package / ".mim"
    for name in ("configs/mtcp_demo.py", "configs/_base_/models/mtcp_tiny.py"):
        assert (mim_dir / name).is_file(), name
    for name in ("train.py", "test.py", "infer.py", "analysis_tools/analyze_logs.py"):
        assert (mim_dir / "tools" / name).is_file(), name
    assert (mim_dir / "model-index.yml").is_file()
    printed = run(
        [python, "-c", "import os, mtcp; print(os.environ['MTCP_CONFIGS'])"],
        empty,
        env,
    )
    assert printed.splitlines()[-1] == str(mim_dir / "configs")


def test_train_test_infer_and_a_user_config_from_an_empty_dir(installed):
    python, package, env, empty, has_mim = installed
    tools, configs = package / ".mim" / "tools", package / ".mim" / "configs"

    def mim(command, *args):
        if has_mim:
            return [python, "-m", "mim", command, "mtcp", *args]
        # what mim runs: the package's script on the config it finds
        if command == "run":
            return [python, tools / f"{args[0]}.py", *args[1:]]
        config = args[0] if (empty / args[0]).is_file() else configs / args[0]
        rest = list(args[1:])
        if command == "test":
            rest.remove("--checkpoint")
        return [python, tools / f"{command}.py", config, *rest]

    work_dir = empty / "work_dirs" / "demo"
    log = run(
        mim("train", "mtcp_demo.py", "--work-dir", work_dir, "--cfg-options", *SHORT),
        empty,
        env,
    )
    assert "Epoch(val) [1]" in log and "semseg/mIoU" in log
    # mim says what it runs: the package's script on the package's config
    assert ("Training command is" in log) == has_mim
    assert not has_mim or f"{tools / 'train.py'} {configs / 'mtcp_demo.py'}" in log
    ckpt = work_dir / "epoch_1.pth"
    assert ckpt.is_file()

    log = run(
        mim("test", "mtcp_demo.py", "--checkpoint", ckpt, "--work-dir", work_dir)
        + ["--cfg-options", "test_dataloader.dataset.num_samples=2"],
        empty,
        env,
    )
    assert "Epoch(test) [1/1]" in log and "depth/rmse" in log

    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), np.uint8)
    cv2.imwrite(str(empty / "room.png"), image)
    run(
        mim("run", "infer", "mtcp_demo.py", ckpt, "room.png", "--out-dir", "out"),
        empty,
        env,
    )
    for name in ("semseg/room.png", "depth/room.npy", "panels/room.png"):
        assert (empty / "out" / name).is_file(), name
    # the Python API: the inferencer with a config by name
    printed = run(
        [python, "-c", INFERENCER.format(ckpt=str(ckpt)), "room.png"], empty, env
    )
    assert "(96, 128) True" in printed.splitlines(), printed[-2000:]
    assert (empty / "api_out" / "panels" / "room.png").is_file()

    # a config of the user's, in their own folder, inheriting the demo's
    (empty / "my_demo.py").write_text(USER_CONFIG)
    log = run(
        mim("test", "my_demo.py", "--checkpoint", ckpt, "--work-dir", work_dir),
        empty,
        env,
    )
    assert "Epoch(test) [1/1]" in log and "normals/mean" in log
    assert "The path my_demo.py doesn't exist" not in log
