"""NonFiniteLossHook on the toy runner: a NaN batch stops training before
the weights change, or is skipped up to ``max_skips`` times."""

import copy

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from toy_runner import NaNInputsAt, make_runner

from mtcp.engine.hooks import NonFiniteLossError, NonFiniteLossHook
from mtcp.engine.hooks.non_finite_loss_hook import SKIPPED_KEY


class Snapshots(Hook):
    """Copies the model, optimizer and weighting state before every
    iteration and after the last one."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.before = {}

    def _copy(self, runner) -> dict:
        model = runner.model
        return dict(
            params=copy.deepcopy(model.state_dict()),
            optimizer=copy.deepcopy(runner.optim_wrapper.state_dict()),
            weighting=model.weighting.get_extra_state().clone(),
        )

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.before[runner.iter + 1] = self._copy(runner)

    def after_train(self, runner) -> None:
        self.before["end"] = self._copy(runner)


def same(first: dict, second: dict) -> bool:
    # the weights and the buffers (BatchNorm statistics)
    return (
        all(
            torch.equal(first["params"][k], second["params"][k])
            for k in first["params"]
            if not k.endswith("_extra_state")
        )
        and torch.equal(first["weighting"], second["weighting"])
        # the moments and step counts (the learning rate follows the
        # iterations, skipped or not)
        and str(first["optimizer"]["state"]) == str(second["optimizer"]["state"])
    )


def test_nan_stops_before_the_step_with_the_checkpoints_intact(tmp_path):
    snapshots = Snapshots()
    runner = make_runner(tmp_path, hooks=[NaNInputsAt(6), snapshots])
    with pytest.raises(NonFiniteLossError) as error:
        runner.train()
    message = str(error.value)
    assert message.startswith(
        "Non-finite training loss at iteration 6 (epoch 2, batch 2 of 4): "
        "loss=nan, semseg.loss=nan, depth.loss=nan. Training stops before this "
        f"step changes the weights; the last checkpoint, {tmp_path / 'epoch_1.pth'}, "
        "was written before it and is unchanged."
    )
    assert "max_skips=N" in message
    # no update: the state is the one before iteration 6
    model = runner.model
    assert torch.equal(
        model.linear.weight, snapshots.before[6]["params"]["linear.weight"]
    )
    assert str(runner.optim_wrapper.state_dict()["state"]) == str(
        snapshots.before[6]["optimizer"]["state"]
    )
    files = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".pth")
    assert files == ["epoch_1.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == str(tmp_path / "epoch_1.pth")
    # the optimizer wrapper has its own update_params again
    assert "update_params" not in vars(runner.optim_wrapper)


def test_skips_up_to_max_skips_then_stops(tmp_path):
    snapshots = Snapshots()
    runner = make_runner(tmp_path, hooks=[NaNInputsAt(3, 6), snapshots], max_skips=2)
    runner.train()
    assert runner.iter == 12
    assert runner.message_hub.get_info(SKIPPED_KEY) == 2
    before = snapshots.before
    # a skipped step changes nothing: not the weights, the BatchNorm
    # statistics, the optimizer, nor the weighting's period statistics; the
    # other steps do
    assert same(before[3], before[4]) and same(before[6], before[7])
    assert not same(before[4], before[5])
    for name, value in before["end"]["params"].items():
        assert torch.isfinite(value).all(), name

    runner = make_runner(tmp_path / "again", hooks=[NaNInputsAt(3, 6)], max_skips=1)
    with pytest.raises(NonFiniteLossError, match="all 1 allowed skips are used"):
        runner.train()
    assert runner.message_hub.get_info(SKIPPED_KEY) == 1


def test_guard_is_installed_for_training_only(tmp_path):
    runner = make_runner(tmp_path, max_epochs=1)
    runner.train()
    assert isinstance(runner.optim_wrapper, OptimWrapper)
    assert "update_params" not in vars(runner.optim_wrapper)
    with pytest.raises(ValueError, match="max_skips must be an int >= 0"):
        NonFiniteLossHook(max_skips=-1)
