"""AtomicCheckpointHook: a kill at every moment of a save, in process.

A tiny runner (a linear model, 4 samples, 2 iterations an epoch) saves with
``max_keep_ckpts=1`` and ``save_best``, its metric improving every epoch so
that every validation writes a new best checkpoint. A "kill" is an exception
raised at one file-system step of the epoch-2 save (half-way through writing
a file, just before a rename, just before a removal); it unwinds like a
SIGKILL, with no clean-up. The disk must then hold a loadable last and best
checkpoint, and a resumed run must finish with exactly the files a run
without a kill leaves.
"""

import errno
import itertools
import logging
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint
from torch.utils.data import Dataset

from mtcp.engine.hooks import AtomicCheckpointHook
from mtcp.engine.hooks.atomic_checkpoint_hook import PARTIAL_SUFFIX

BEST = "best_score_epoch_{}.pth"
RUN_IDS = itertools.count()


class Killed(BaseException):
    """Stands for SIGKILL: no ``except Exception`` catches it."""


class LinearModel(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode="tensor"):
        out = self.linear(torch.stack(inputs))
        if mode == "loss":
            return dict(loss=out.pow(2).mean())
        return list(out)


class Points(Dataset):
    metainfo = dict(name="points")

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([1.0, float(index)]))


class ImprovingScore(BaseMetric):
    """The number of trained epochs: every epoch is a new best."""

    def process(self, data_batch, data_samples) -> None:
        self.results.append(0)

    def compute_metrics(self, results) -> dict:
        # the runtime info holds the 0-based epoch that was just trained
        return dict(score=MessageHub.get_current_instance().get_info("epoch") + 1.0)


def make_runner(work_dir, max_epochs: int = 3, resume: bool = False) -> Runner:
    loader = dict(
        dataset=Points(),
        sampler=dict(type="DefaultSampler", shuffle=False),
        batch_size=2,
        collate_fn=dict(type="pseudo_collate"),
    )
    metric = ImprovingScore()
    return Runner(
        model=LinearModel(),
        work_dir=str(work_dir),
        experiment_name=f"run{next(RUN_IDS)}",
        train_dataloader=loader,
        val_dataloader=loader,
        val_evaluator=[metric],
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),
        default_hooks=dict(
            checkpoint=AtomicCheckpointHook(
                interval=1, max_keep_ckpts=1, save_best="score", rule="greater"
            ),
            logger=dict(type="LoggerHook", interval=1),
        ),
        resume=resume,
        randomness=dict(seed=0),
        default_scope="mmengine",
    )


def ckpt_files(work_dir) -> list:
    return sorted(
        name
        for name in os.listdir(work_dir)
        if name.endswith(".pth") or name.endswith(PARTIAL_SUFFIX)
    )


def last_checkpoint(work_dir) -> str:
    with open(osp.join(work_dir, "last_checkpoint")) as file:
        return file.read()


class KillSwitch:
    """Raise :class:`Killed` at the ``nth`` call of a file operation on
    ``name`` (a basename); ``put`` writes half of the bytes first."""

    def __init__(self, monkeypatch, operation: str, name: str, nth: int) -> None:
        self.operation, self.name, self.left = operation, name, nth
        real_put, real_replace = LocalBackend.put, os.replace
        real_remove = LocalBackend.remove

        def put(backend, obj, filepath):
            if self._hit("put", filepath):
                with open(filepath, "wb") as file:
                    file.write(obj[: len(obj) // 2])
                raise Killed
            return real_put(backend, obj, filepath)

        def replace(src, dst, **kwargs):
            if self._hit("replace", dst):
                raise Killed
            return real_replace(src, dst, **kwargs)

        def remove(backend, filepath):
            if self._hit("remove", filepath):
                raise Killed
            return real_remove(backend, filepath)

        monkeypatch.setattr(LocalBackend, "put", put)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(LocalBackend, "remove", remove)

    def _hit(self, operation: str, path) -> bool:
        if operation != self.operation or osp.basename(str(path)) != self.name:
            return False
        self.left -= 1
        return self.left == 0


# The epoch-2 save, step by step: the regular checkpoint, then (after the
# validation) the new best, the regular checkpoint again (now recording that
# best) and the removal of the previous best.
MOMENTS = {
    "writing epoch_2": ("put", "epoch_2.pth" + PARTIAL_SUFFIX, 1),
    "renaming epoch_2": ("replace", "epoch_2.pth", 1),
    "pointing last_checkpoint at epoch_2": ("replace", "last_checkpoint", 3),
    "removing epoch_1": ("remove", "epoch_1.pth", 1),
    "writing the new best": ("put", BEST.format(2) + PARTIAL_SUFFIX, 1),
    "renaming the new best": ("replace", BEST.format(2), 1),
    "rewriting epoch_2": ("put", "epoch_2.pth" + PARTIAL_SUFFIX, 2),
    "renaming the rewritten epoch_2": ("replace", "epoch_2.pth", 2),
    "repointing last_checkpoint": ("replace", "last_checkpoint", 4),
    "removing the previous best": ("remove", BEST.format(1), 1),
}


def test_straight_run_keeps_one_checkpoint_and_one_best(tmp_path):
    make_runner(tmp_path).train()
    assert ckpt_files(tmp_path) == [BEST.format(3), "epoch_3.pth"]
    assert last_checkpoint(tmp_path) == str(tmp_path / "epoch_3.pth")
    best = _load_checkpoint(str(tmp_path / BEST.format(3)))
    assert best["message_hub"]["runtime_info"]["best_score"] == 3.0


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_kill_at_any_moment_of_a_save_loses_nothing(tmp_path, monkeypatch, moment):
    with monkeypatch.context() as patch:
        switch = KillSwitch(patch, *MOMENTS[moment])
        with pytest.raises(Killed):
            make_runner(tmp_path).train()
        assert switch.left == 0

    # what the kill left: a complete checkpoint named by last_checkpoint,
    # and a complete best checkpoint
    last = last_checkpoint(tmp_path)
    assert osp.basename(last) in ("epoch_1.pth", "epoch_2.pth"), last
    resumed_from = _load_checkpoint(str(last))
    bests = [name for name in ckpt_files(tmp_path) if name.startswith("best_")]
    assert bests, ckpt_files(tmp_path)
    for name in bests:
        if not name.endswith(PARTIAL_SUFFIX):
            _load_checkpoint(str(tmp_path / name))
    recorded = resumed_from["message_hub"]["runtime_info"]["best_ckpt"]
    assert osp.isfile(recorded)

    make_runner(tmp_path, resume=True).train()
    expected = [BEST.format(3), "epoch_3.pth"]
    if moment == "renaming the rewritten epoch_2" or moment == "rewriting epoch_2":
        # the new best of epoch 2 was written, the checkpoint recording it
        # was not: the resumed run tracks the epoch-1 best and keeps both
        expected = [BEST.format(2)] + expected
    assert ckpt_files(tmp_path) == sorted(expected), moment
    assert last_checkpoint(tmp_path) == str(tmp_path / "epoch_3.pth")
    final = _load_checkpoint(str(tmp_path / "epoch_3.pth"))
    assert final["meta"]["epoch"] == 3
    assert final["message_hub"]["runtime_info"]["best_ckpt"] == str(
        tmp_path / BEST.format(3)
    )


def test_failed_write_stops_training_and_keeps_the_previous_checkpoint(
    tmp_path, monkeypatch
):
    real_put = LocalBackend.put

    def disk_full(backend, obj, filepath):
        if osp.basename(filepath).startswith("epoch_2.pth"):
            with open(filepath, "wb") as file:
                file.write(obj[:10])
            raise OSError(errno.ENOSPC, "No space left on device", filepath)
        return real_put(backend, obj, filepath)

    monkeypatch.setattr(LocalBackend, "put", disk_full)
    with pytest.raises(RuntimeError) as error:
        make_runner(tmp_path).train()
    message = str(error.value)
    assert str(tmp_path / "epoch_2.pth") in message
    assert "No space left on device" in message
    assert f"the previous checkpoint {tmp_path / 'epoch_1.pth'} is intact" in message
    assert ckpt_files(tmp_path) == [BEST.format(1), "epoch_1.pth"]
    assert last_checkpoint(tmp_path) == str(tmp_path / "epoch_1.pth")
    _load_checkpoint(str(tmp_path / "epoch_1.pth"))


def test_resume_removes_partial_files_and_warns_about_an_unrecorded_best(
    tmp_path, monkeypatch
):
    with monkeypatch.context() as patch:
        KillSwitch(patch, *MOMENTS["rewriting epoch_2"])
        with pytest.raises(Killed):
            make_runner(tmp_path).train()
    assert "epoch_2.pth" + PARTIAL_SUFFIX in ckpt_files(tmp_path)
    runner = make_runner(tmp_path, max_epochs=2, resume=True)
    logger = runner.logger
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        runner.train()
    finally:
        logger.removeHandler(handler)
    messages = [record.getMessage() for record in records]
    assert "epoch_2.pth" + PARTIAL_SUFFIX not in ckpt_files(tmp_path)
    assert any("left by an interrupted save" in m for m in messages), messages
    assert any(
        str(tmp_path / BEST.format(2)) in m and "not the best checkpoint" in m
        for m in messages
    ), messages


def test_failed_update_of_last_checkpoint_stops_training(tmp_path, monkeypatch):
    real_replace = os.replace

    def read_only(src, dst, **kwargs):
        if osp.basename(dst) == "last_checkpoint" and "epoch_1" not in open(src).read():
            raise PermissionError(errno.EACCES, "Permission denied", dst)
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(RuntimeError) as error:
        make_runner(tmp_path).train()
    record = tmp_path / "last_checkpoint"
    assert str(error.value).startswith(f"Could not update {record}: ")
    assert f"the checkpoint {tmp_path / 'epoch_2.pth'} is complete" in str(error.value)
    assert f"still names {tmp_path / 'epoch_1.pth'}" in str(error.value)
    assert last_checkpoint(tmp_path) == str(tmp_path / "epoch_1.pth")
    # nothing was removed: epoch 1 stays the checkpoint to resume from
    assert "epoch_1.pth" in ckpt_files(tmp_path)
