"""bfloat16 autocast on CPU (``CPUAutocastOptimWrapper``, what
``tools/train.py --amp`` selects on a CPU with AVX-512 BF16 or AMX): a short
demo run finishes with finite losses, and its loss and validation figures
stay close to those of the same run in float32. The wrapper is set through
the config, so that the test also runs on CPUs that ``--amp`` refuses.

Tolerances (bf16 keeps 8 bits of mantissa, so one step's outputs differ by
about 0.4 % relative, and 64 steps compound it): the last logged total loss
within 5 % of float32's, the validation mIoU within 5 points, the depth RMSE
within 10 % and the normals' mean angular error within 15 % of float32's.
Measured (2 shared cores, torch 2.13): total loss 2.305 vs 2.300, mIoU 29.5
vs 30.9, RMSE 0.860 vs 0.883, normals 17.5 vs 16.2 degrees; float32 runs of
seeds 0-2 after half as many steps spread over 4.8 points of mIoU and 4.1
degrees. On a CPU without native bf16 the bf16 run is about 4x slower than
float32: marked slow.
"""

import math
import re
from pathlib import Path

import pytest
from script_runner import logged_metrics, run_script

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "mtcp_demo.py")
SHORT = [
    "train_dataloader.dataset.num_samples=64",
    "val_dataloader.dataset.num_samples=16",
    "train_cfg.max_epochs=4",
    "train_cfg.val_interval=4",
    "default_hooks.logger.interval=16",
]


def _train_figures(log: str) -> dict:
    """The total and per-task losses of the last ``Epoch(train)`` line."""
    line = [line for line in log.splitlines() if "Epoch(train)" in line][-1]
    pattern = r"\b(loss|semseg|depth|normals): (-?[\d.]+|nan|inf)"
    return {key: float(value) for key, value in re.findall(pattern, line)}


def _run(tmp_path, amp):
    work_dir = tmp_path / ("amp" if amp else "fp32")
    args = ["tools/train.py", CONFIG, "--work-dir", str(work_dir)]
    wrapper = ["optim_wrapper.type=CPUAutocastOptimWrapper"] if amp else []
    log = run_script(args + ["--cfg-options", *SHORT, *wrapper])
    return log, _train_figures(log), logged_metrics(log, "val")


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("amp_cpu")
    return _run(tmp_path, False), _run(tmp_path, True)


def test_bf16_run_tracks_fp32(runs):
    (_, fp32_train, fp32_val), (log, bf16_train, bf16_val) = runs
    assert "CPUAutocastOptimWrapper" in log
    assert set(bf16_train) == {"loss", "semseg", "depth", "normals"}
    assert all(math.isfinite(v) for v in bf16_train.values())
    loss, ref = bf16_train["loss"], fp32_train["loss"]
    assert abs(loss - ref) <= 0.05 * ref, (loss, ref)
    assert abs(bf16_val["semseg/mIoU"] - fp32_val["semseg/mIoU"]) <= 5.0
    for key, tolerance in (("depth/rmse", 0.10), ("normals/mean", 0.15)):
        assert abs(bf16_val[key] - fp32_val[key]) <= tolerance * fp32_val[key], key
