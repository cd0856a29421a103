import os
import pickle
from urllib.error import URLError

import pytest
import torch
import torch.nn as nn
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint
from torch.utils.data import Dataset

import mtcp  # noqa: F401  (registers the safe checkpoint loaders)
from mtcp.utils import (
    history_buffer_method,
    safe_checkpoint_globals,
    safe_checkpoint_loading,
)
from mtcp.utils.checkpoint import CheckpointError


class _Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, mode="loss"):
        if mode == "loss":
            return dict(loss=(self.linear(x) - x.sum(1, True)).pow(2).mean())
        return [self.linear(x)]


class _Points(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(x=torch.randn(2, generator=g))


def _runner(work_dir, max_epochs, resume=False):
    return Runner(
        model=_Toy(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_Points(),
            batch_size=2,
            sampler=dict(type="DefaultSampler", shuffle=True),
            collate_fn=dict(type="default_collate"),
        ),
        optim_wrapper=dict(optimizer=dict(type="AdamW", lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1)),
        resume=resume,
        randomness=dict(seed=0),
    )


def test_runner_checkpoint_resumes_with_weights_only(tmp_path):
    _runner(tmp_path, max_epochs=1).train()
    ckpt = tmp_path / "epoch_1.pth"
    # The checkpoint holds mmengine's message hub (HistoryBuffer, numpy).
    with safe_checkpoint_loading():
        raw = torch.load(ckpt, weights_only=True)
    buf = raw["message_hub"]["log_scalars"]["train/loss"]
    assert isinstance(buf, HistoryBuffer)
    assert buf.statistics("mean") == pytest.approx(buf.mean())

    runner = _runner(tmp_path, max_epochs=2, resume=True)
    runner.train()
    assert runner.epoch == 2
    assert runner.iter == 8
    assert os.path.exists(tmp_path / "epoch_2.pth")
    # the loss history of the first run survived the resume
    assert runner.message_hub.get_scalar("train/loss").data[0].size >= 4


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned",))


class _EvilGetattr:
    def __reduce__(self):
        return (getattr, (HistoryBuffer, "__init__"))


@pytest.mark.parametrize(
    "payload, what",
    [
        (_Evil(), r"an object of type (posix|nt)\.system"),
        (_EvilGetattr(), r"a lookup that was refused \(Refusing getattr"),
    ],
)
def test_malicious_pickle_is_refused(tmp_path, payload, what):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": payload}, path)
    with pytest.raises(Exception, match="(?i)weights only load failed"):
        torch.load(path)
    # mmengine's loader (--resume, load_from, load_checkpoint): our words,
    # naming the file, never torch's advice to turn the safe loading off
    with pytest.raises(CheckpointError, match=what) as error:
        load_checkpoint(nn.Linear(1, 1), str(path))
    assert str(error.value).startswith(f"{path}: the checkpoint holds")
    assert "weights_only" not in str(error.value)


def test_truncated_checkpoint_is_named(tmp_path):
    path = tmp_path / "epoch_1.pth"
    torch.save({"state_dict": nn.Linear(4, 4).state_dict()}, path)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(nn.Linear(4, 4), str(path))
    message = str(error.value)
    assert message.startswith(f"{path} is not a PyTorch checkpoint, or is truncated")
    assert "RuntimeError while reading it: PytorchStreamReader" in message


def test_history_buffer_method_is_restricted():
    assert history_buffer_method(HistoryBuffer, "mean") is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match="Refusing"):
        history_buffer_method(HistoryBuffer, "__init__")
    with pytest.raises(pickle.UnpicklingError, match="Refusing"):
        history_buffer_method(os, "system")


def test_allow_list_does_not_leak_to_other_loads(tmp_path):
    # mtcp is imported: a plain weights_only load elsewhere in the process
    # still refuses a HistoryBuffer and Python's getattr.
    path = tmp_path / "hub.pth"
    torch.save({"buffer": HistoryBuffer([1.0, 2.0], [1, 1])}, path)
    with pytest.raises(pickle.UnpicklingError, match="(?i)weights only load failed"):
        torch.load(path, weights_only=True)
    assert not _ours_allowed()
    with safe_checkpoint_loading():
        assert len(_ours_allowed()) == len(safe_checkpoint_globals())
        assert torch.load(path, weights_only=True)["buffer"].mean() == 1.5
    assert not _ours_allowed()
    # mmengine's loader (resume, load_from, PretrainedInit) applies it
    assert _load_checkpoint(str(path))["buffer"].mean() == 1.5
    assert not _ours_allowed()


def _ours_allowed() -> list:
    """The entries of our allow-list that torch currently allows."""
    allowed = torch.serialization.get_safe_globals()
    return [entry for entry in safe_checkpoint_globals() if entry in allowed]


def test_offline_url_names_the_url_and_the_cache(monkeypatch):
    url = "https://download.example.org/weights/backbone.pth"

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(mmengine_checkpoint, "load_url", offline)
    cache = os.path.join(torch.hub.get_dir(), "checkpoints", "backbone.pth")
    with pytest.raises(FileNotFoundError) as error:
        _load_checkpoint(url)
    assert url in str(error.value)
    assert cache in str(error.value)
