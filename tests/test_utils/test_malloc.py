"""mtcp.utils.malloc: a fixed glibc mmap threshold returns freed tensors."""

import subprocess
import sys

import pytest
from mmengine.config import Config

from mtcp.utils import malloc

needs_glibc = pytest.mark.skipif(
    malloc._glibc() is None, reason="the malloc settings are glibc's"
)

# After freeing one 8 MiB tensor, 50 tensors of 4 MiB, each followed by a
# long-lived one of 256 KiB that keeps its freed block from merging into the
# heap's top; prints the RSS released (MiB) when the 4 MiB tensors are freed.
# The module is loaded from its file (argv[2]): importing the mtcp package
# would take longer than the test.
SCRIPT = """
import importlib.util
import sys
import torch

spec = importlib.util.spec_from_file_location("malloc", sys.argv[2])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
set_malloc_mmap_threshold = module.set_malloc_mmap_threshold

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

if sys.argv[1] == "fixed":
    set_malloc_mmap_threshold(1024**2)
torch.manual_seed(0)
warm = torch.rand(2**21)  # 8 MiB: glibc's dynamic threshold rises to it
del warm
big, pins = [], []
for _ in range(50):
    big.append(torch.rand(2**20))
    pins.append(torch.rand(2**16))
before = rss()
del big
print((before - rss()) / 1024**2)
"""


def _released_mib(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, malloc.__file__],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


@needs_glibc
def test_fixed_threshold_returns_freed_tensors():
    # glibc's default keeps the 200 MiB in its heap; the fixed 1 MiB
    # threshold mmaps each 4 MiB tensor and unmaps it when freed.
    assert _released_mib("default") < 20
    assert _released_mib("fixed") > 180


@pytest.mark.parametrize("bad", [0, -1, 64 * 1024**2, 1.5, True, "16M"])
def test_bad_threshold(bad):
    with pytest.raises(ValueError, match="malloc_mmap_threshold"):
        malloc.set_malloc_mmap_threshold(bad)


def test_apply_cfg_without_setting_is_a_no_op(monkeypatch):
    calls = []
    monkeypatch.setattr(malloc, "set_malloc_mmap_threshold", calls.append)
    malloc.apply_malloc_cfg(Config(dict(env_cfg=dict(cudnn_benchmark=False))))
    malloc.apply_malloc_cfg(Config(dict()))
    malloc.apply_malloc_cfg(Config(dict(env_cfg=dict(malloc_mmap_threshold=None))))
    assert calls == []
    malloc.apply_malloc_cfg(Config(dict(env_cfg=dict(malloc_mmap_threshold=2**24))))
    assert calls == [2**24]


def test_shipped_configs_keep_glibc_defaults():
    """The setting slows a batch-2 CPU step by 18 %: an opt-in, not a default."""
    for name in ("mtcp_nyud", "mtcp_pascal"):
        cfg = Config.fromfile(f"configs/{name}.py")
        assert cfg.env_cfg.get("malloc_mmap_threshold") is None
        # The base runtime's environment settings are there.
        assert cfg.env_cfg.mp_cfg.mp_start_method == "fork"


def test_other_c_library_warns_and_changes_nothing(monkeypatch):
    """The shipped configs must run on macOS or musl, where it does nothing."""
    logged = []
    monkeypatch.setattr(malloc, "_glibc", lambda: None)
    monkeypatch.setattr(malloc, "print_log", lambda msg, **kw: logged.append(msg))
    malloc.set_malloc_mmap_threshold(2**24)
    assert len(logged) == 1 and "not glibc" in logged[0]
