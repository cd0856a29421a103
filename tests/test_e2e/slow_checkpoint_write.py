"""Test-only: a checkpoint write that stalls half-way, so a test can SIGKILL
the training process in the middle of it.

Imported by the training processes of ``test_kill_and_resume.py`` through
``custom_imports`` (this directory is then on PYTHONPATH). When the
environment variable ``MTCP_TEST_SLOW_WRITE`` names a file (a basename), the
first write of that file through mmengine's local file backend writes half
of the bytes, flushes them, prints ``SLOW WRITE STARTED <path>`` and sleeps.

It also registers ``EveryEpochBestCheckpointHook``: the atomic checkpoint
hook with a rule ``'always'`` under which every validation is a new best,
so that the test knows when a best checkpoint is written.
"""

import os
import os.path as osp
import time
from math import inf

from mmengine.fileio.backends import LocalBackend
from mmseg.registry import HOOKS

from mtcp.engine.hooks import AtomicCheckpointHook

SLOW_FILE = os.environ.get("MTCP_TEST_SLOW_WRITE")
MARKER = "SLOW WRITE STARTED"
_put = LocalBackend.put


def _slow_put(backend, obj, filepath) -> None:
    global SLOW_FILE
    if SLOW_FILE is None or osp.basename(str(filepath)) != SLOW_FILE:
        return _put(backend, obj, filepath)
    SLOW_FILE = None
    with open(filepath, "wb") as file:
        file.write(obj[: len(obj) // 2])
        file.flush()
        os.fsync(file.fileno())
    print(f"{MARKER} {filepath}", flush=True)
    time.sleep(600)
    return _put(backend, obj, filepath)


LocalBackend.put = _slow_put


@HOOKS.register_module()
class EveryEpochBestCheckpointHook(AtomicCheckpointHook):
    """AtomicCheckpointHook with a rule 'always': every score is a new best."""

    rule_map = {**AtomicCheckpointHook.rule_map, "always": lambda score, best: True}
    init_value_map = {**AtomicCheckpointHook.init_value_map, "always": -inf}
