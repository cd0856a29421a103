"""tools/gpu_check.py on CPU at a tiny size (what the GPU host runs at full
size): fp32 and bf16 steps with the SDPA kernel named, and the
data-parallel step over gloo."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from script_runner import run_script
from tool_loader import load_tool

gpu_check = load_tool("gpu_check")
REPO = Path(__file__).resolve().parents[2]
TINY = [str(REPO / "configs" / "mtcp_demo.py"), "--device", "cpu"]
TINY += ["--input-size", "64", "64", "--batch-size", "1", "--steps", "1"]


def test_steps_report_the_cpu_flash_kernel(capsys):
    assert gpu_check.main(TINY + ["--dist", "auto"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| none |")]
    rows += [line for line in out.splitlines() if line.startswith("| bf16 |")]
    assert len(rows) == 2 and all(r.endswith("| flash (CPU) |") for r in rows)
    assert "data-parallel step skipped: --dist auto, 0 GPU(s)" in out


def test_math_kernel_or_nan_fails():
    ok = dict(amp="fp16", kernels=["flash"], loss=1.0)
    assert gpu_check.check(ok) == []
    math = dict(ok, kernels=["math (materialises the affinity)"])
    assert gpu_check.check(math) == [
        "fp16: SDPA kernel math (materialises the affinity)"
    ]
    assert gpu_check.check(dict(ok, kernels=[])) == ["fp16: SDPA kernel none"]
    assert gpu_check.check(dict(ok, loss=float("nan"))) == ["fp16: loss nan"]


@pytest.mark.slow
def test_data_parallel_step_over_gloo():
    out = run_script(
        ["tools/gpu_check.py", *TINY, "--dist", "on", "--dist-timeout", "300"]
    )
    assert "2-process step:" in out and "weights differ across ranks by 0" in out


@pytest.mark.slow
def test_data_parallel_step_past_its_timeout_is_stopped():
    """Ranks that have not finished within --dist-timeout are killed and the
    check fails with the limit named, instead of waiting on them."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "tools/gpu_check.py", *TINY, "--dist", "on"]
        + ["--dist-timeout", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0
    assert (
        "the data-parallel step did not finish within 3 s (--dist-timeout); "
        "its processes were stopped" in proc.stderr
    )
    assert "2-process step:" not in proc.stdout
    # the precision runs take the rest; the ranks were stopped at 3 s
    assert time.monotonic() - start < 300
