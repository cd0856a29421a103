"""A checkpoint's weighting state is checked before it is used."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from weighting_helpers import feed_period

from mtcp.engine.hooks import TaskWeightingHook
from mtcp.models.weighting import DWA, LPS, FixedWeights

TASKS = ["semseg", "depth", "normals"]


def trained_lps() -> LPS:
    """An LPS after three periods: weights that differ from 1 and sum to 3."""
    lps = LPS(TASKS)
    for scale in (1.0, 0.5, 0.3):
        feed_period(lps, [{f"{t}.loss": scale * (i + 1) for i, t in enumerate(TASKS)}])
    return lps


def with_weights(weighting, weights) -> torch.Tensor:
    """The weighting's state with its weights replaced."""
    state = weighting.get_extra_state().clone()
    # header: the layout mark, T, each name (length, characters), three counts
    start = 2 + sum(1 + len(t) for t in TASKS) + 3
    state[start : start + len(TASKS)] = torch.tensor(weights, dtype=torch.float64)
    return state


def test_a_valid_state_loads():
    lps = trained_lps()
    assert not all(w == 1 for w in lps.weights)
    assert sum(lps.weights) == pytest.approx(3)
    fresh = LPS(TASKS)
    fresh.set_extra_state(lps.get_extra_state())
    assert fresh.weights == lps.weights


def test_the_state_names_its_tasks():
    """Tasks are saved by name, so the order of the task table is no part of
    the format; a user's task is saved like a built-in one."""
    state = trained_lps().get_extra_state().tolist()
    assert state[:3] == [-2.0, 3.0, 6.0]
    assert "".join(map(chr, map(int, state[3:9]))) == "semseg"
    with pytest.raises(ValueError, match=r"for tasks \['semseg', 'depth', 'normals'\]"):
        LPS(["depth", "semseg", "normals"]).set_extra_state(torch.tensor(state))


def test_a_state_of_the_earlier_layout_loads():
    """Before task names were saved, a task was its position in the task
    table of the time (semseg, parts, depth, normals, saliency, edge)."""
    lps = trained_lps()
    new = lps.get_extra_state().tolist()
    old = [3.0, 0.0, 2.0, 3.0] + new[2 + sum(1 + len(t) for t in TASKS) :]
    fresh = LPS(TASKS)
    fresh.set_extra_state(torch.tensor(old, dtype=torch.float64))
    assert fresh.weights == lps.weights
    assert fresh.get_extra_state().tolist() == new


@pytest.mark.parametrize(
    "weights, problem",
    [
        ([math.nan, 1.5, 1.5], "not finite"),
        ([math.inf, 1.0, 1.0], "not finite"),
        ([-0.5, 2.0, 1.5], "not finite and >= 0"),
        ([0.01, 1.49, 1.5], "below min_weight=0.05"),
        ([1.0, 1.0, 1.5], "sum to 3.5, not T=3"),
    ],
)
def test_lps_refuses_invalid_weights(weights, problem):
    lps = trained_lps()
    before = lps.weights
    with pytest.raises(ValueError, match="LPS state has") as error:
        lps.set_extra_state(with_weights(lps, weights))
    assert problem in str(error.value)
    assert str(weights[0]) in str(error.value)  # the values are shown
    assert lps.weights == before  # nothing was applied


def test_non_finite_period_losses_are_refused():
    lps = trained_lps()
    state = lps.get_extra_state().clone()
    state[-1] = math.inf  # the newest period mean of the last task
    with pytest.raises(ValueError, match="non-finite period losses"):
        LPS(TASKS).set_extra_state(state)
    # NaN there means "no label of that task in the period" (partial labels)
    state[-1] = math.nan
    LPS(TASKS).set_extra_state(state)
    # a period loss sum is always finite: [header, weights, sums, ...]
    state = lps.get_extra_state().clone()
    state[2 + sum(1 + len(t) for t in TASKS) + 3 + len(TASKS)] = math.nan
    with pytest.raises(ValueError, match="non-finite period losses"):
        LPS(TASKS).set_extra_state(state)


def test_dwa_weights_sum_to_t():
    dwa = DWA(TASKS)
    DWA(TASKS).set_extra_state(with_weights(dwa, [0.5, 1.0, 1.5]))
    with pytest.raises(ValueError, match="sum to 3.5, not T=3"):
        DWA(TASKS).set_extra_state(with_weights(dwa, [1.0, 1.0, 1.5]))
    with pytest.raises(ValueError, match="not all positive"):
        DWA(TASKS).set_extra_state(with_weights(dwa, [0.0, 1.5, 1.5]))


def test_fixed_weights_may_switch_a_task_off_but_not_go_negative():
    fixed = FixedWeights(TASKS, weights=dict(semseg=1.0, depth=0.0, normals=2.0))
    FixedWeights(TASKS, weights=dict(semseg=1, depth=1, normals=1)).set_extra_state(
        fixed.get_extra_state()
    )
    with pytest.raises(ValueError, match="not finite and >= 0"):
        fixed.set_extra_state(with_weights(fixed, [1.0, -1.0, 2.0]))
    with pytest.raises(ValueError, match="no positive weight"):
        fixed.set_extra_state(with_weights(fixed, [0.0, 0.0, 0.0]))


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(1, 1)
        self.weighting = LPS(TASKS)


def test_hook_names_the_checkpoint_file_before_the_model_is_touched():
    model = Model()
    state_dict = trained_lps().state_dict(prefix="weighting.")
    state_dict["weighting._extra_state"] = with_weights(
        model.weighting, [math.nan, 1.5, 1.5]
    )
    runner = SimpleNamespace(
        model=model, cfg=Config(dict(load_from="work_dirs/demo/epoch_3.pth"))
    )
    checkpoint = dict(meta=dict(epoch=3), state_dict=state_dict)
    with pytest.raises(ValueError) as error:
        TaskWeightingHook().after_load_checkpoint(runner, checkpoint)
    message = str(error.value)
    assert message.startswith("work_dirs/demo/epoch_3.pth: ")
    assert "nan" in message and "semseg" in message
    assert model.weighting.weights == [1.0, 1.0, 1.0]

    # a valid state passes, and a checkpoint without one is left alone
    state_dict["weighting._extra_state"] = trained_lps().get_extra_state()
    TaskWeightingHook().after_load_checkpoint(runner, checkpoint)
    TaskWeightingHook().after_load_checkpoint(runner, dict(state_dict={}))
