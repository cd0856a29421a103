"""Checkpoints that do not fit, are not finite or are not checkpoints at all
are refused in our words, naming the keys and tensors."""

import os

import pytest
import torch
from torch import nn

from mtcp.utils.strict_loading import CheckpointError, load_checkpoint_strictly


class History(nn.Module):
    """A module whose extra state grows, like the loss weighting's history."""

    def __init__(self):
        super().__init__()
        self.values = []

    def get_extra_state(self):
        return torch.tensor(self.values, dtype=torch.float64)

    def set_extra_state(self, state):
        self.values = state.tolist()


def model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1), History()
    )


def save(tmp_path, state_dict, name="ckpt.pth"):
    path = str(tmp_path / name)
    torch.save(dict(state_dict=state_dict, meta=dict(epoch=3)), path)
    return path


def test_a_fitting_checkpoint_loads_with_its_meta(tmp_path):
    source = model()
    with torch.no_grad():
        source[2].weight.fill_(0.5)
    source[3].values = [1.0, 2.0, float("inf")]
    # DDP's `module.` prefix is removed
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    target = model()
    checkpoint = load_checkpoint_strictly(target, save(tmp_path, state))
    assert checkpoint["meta"] == dict(epoch=3)
    assert torch.equal(target[2].weight, torch.full((2, 4, 1, 1), 0.5))
    # extra state of another length than the fresh model's is the module's own
    assert target[3].values == [1.0, 2.0, float("inf")]


def test_missing_unexpected_and_mis_shaped_keys_are_listed(tmp_path):
    state = model().state_dict()
    state.pop("2.bias")
    state["4.weight"] = torch.ones(1)
    state["0.weight"] = torch.ones(5, 3, 1, 1)
    target = model()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError) as error:
        load_checkpoint_strictly(target, save(tmp_path, state))
    message = str(error.value)
    assert "does not fit the model" in message
    assert "missing in the checkpoint: 2.bias" in message
    assert "not in the model: 4.weight" in message
    assert "0.weight (5, 3, 1, 1) (model: (4, 3, 1, 1))" in message
    # nothing was loaded
    for key, value in target.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_non_finite_weights_are_named(tmp_path):
    state = model().state_dict()
    state["2.weight"][0, 0] = float("nan")
    state["1.running_var"][1] = float("inf")
    with pytest.raises(CheckpointError, match=r"NaN or infinite weights in "):
        load_checkpoint_strictly(model(), save(tmp_path, state))
    with pytest.raises(CheckpointError, match=r"1\.running_var, 2\.weight"):
        load_checkpoint_strictly(model(), save(tmp_path, state))


@pytest.mark.parametrize(
    "content, message",
    [
        (os.urandom(2000), "is not a PyTorch checkpoint"),
        (b"", r"is empty \(0 bytes\)"),
        (b"epoch=3\nloss=0.1\n", "is not a PyTorch checkpoint"),
    ],
)
def test_a_file_that_is_not_a_checkpoint(tmp_path, content, message):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as error:
        load_checkpoint_strictly(model(), str(path))
    # our words, never torch's advice to turn the safe loading off
    assert "weights_only" not in str(error.value)
    assert str(path) in str(error.value)


class Unsafe:
    """An object a safe load refuses."""


def test_unsafe_objects_and_non_tensor_state(tmp_path):
    path = str(tmp_path / "unsafe.pth")
    torch.save(dict(state_dict=model().state_dict(), extra=Unsafe()), path)
    with pytest.raises(CheckpointError, match="Unsafe, which is not loaded") as error:
        load_checkpoint_strictly(model(), path)
    assert "weights_only" not in str(error.value)
    path = save(tmp_path, dict(lr=0.1, epoch=3))
    with pytest.raises(CheckpointError, match="has no model weights: lr, epoch"):
        load_checkpoint_strictly(model(), path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint_strictly(model(), str(tmp_path / "none.pth"))
