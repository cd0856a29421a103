"""Run the repository's scripts as a user does, in subprocesses, and read
the figures they log (shared by the end-to-end tests)."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_script(args, **kwargs) -> str:
    """Run ``python ARGS`` from the repository root; returns stdout + stderr.

    One torch thread per process: on 2 shared cores oversubscribed threads
    are many times slower than one.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        **kwargs,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def logged_metrics(log: str, mode: str) -> dict:
    """The figures of the last ``Epoch(<mode>)`` line of an mmengine log."""
    lines = [line for line in log.splitlines() if f"Epoch({mode})" in line]
    assert lines, f"no Epoch({mode}) line in the log"
    return {
        key: float(value)
        for key, value in re.findall(r"(\w+/[\w.]+): (-?[\d.]+)", lines[-1])
    }
