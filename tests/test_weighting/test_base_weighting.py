import io

import pytest
import torch
from weighting_helpers import feed_period

import mtcp  # noqa: F401  (allow-lists mmengine's checkpoint objects)
from mtcp.models.weighting import LPS, UncertaintyWeighting

TASKS = ["semseg", "depth"]


def trained_lps():
    weighting = LPS(TASKS, spread=2.0)
    feed_period(weighting, [{"semseg.loss": 2.0, "depth.loss": 1.0}])
    feed_period(weighting, [{"semseg.loss": 0.5, "depth.loss": 0.9}])
    # An open period with running sums.
    weighting({"semseg.loss": torch.tensor(0.25), "depth.loss": torch.tensor(0.75)})
    return weighting


def test_state_dict_round_trip_is_exact():
    source = trained_lps()
    state = source.state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)

    target = LPS(TASKS, spread=2.0)
    target.load_state_dict(loaded)
    assert torch.equal(target.get_extra_state(), source.get_extra_state())
    assert target.history == source.history
    assert target.weights == source.weights
    assert target.weights != [1.0, 1.0]
    assert target.num_periods == 2
    # The open period continues: both end it with the same result.
    assert target.end_period() == source.end_period()


def test_state_is_not_a_buffer():
    # DDP broadcasts buffers from rank 0 at every forward, which would replace
    # each rank's running sums.
    weighting = trained_lps()
    assert list(weighting.buffers()) == []
    assert list(weighting.state_dict()) == ["_extra_state"]


def test_state_for_other_tasks_is_refused():
    state = trained_lps().state_dict()
    with pytest.raises(ValueError, match="tasks"):
        LPS(["semseg", "normals"]).load_state_dict(state)


def test_uncertainty_state_round_trip():
    source = UncertaintyWeighting(TASKS)
    with torch.no_grad():
        source.log_variances.fill_(0.5)
    feed_period(source, [{"semseg.loss": 2.0, "depth.loss": 1.0}])
    target = UncertaintyWeighting(TASKS)
    target.load_state_dict(source.state_dict())
    assert target.weights == source.weights
    assert target.history == [[2.0, 1.0]]


@pytest.mark.parametrize(
    "losses,error,match",
    [
        ({"semseg.loss": 1.0}, KeyError, "depth.loss"),
        ({"semseg.aux_8.loss": 1.0, "depth.loss": 1.0}, KeyError, "semseg.loss"),
        (
            {"semseg.loss": 1.0, "depth.loss": 1.0, "parts.loss": 1.0},
            KeyError,
            "parts.loss",
        ),
        (
            {"semseg.loss": 1.0, "depth.loss": 1.0, "coherence.parts": 1.0},
            KeyError,
            "coherence.parts",
        ),
        (
            {"semseg.loss": 1.0, "depth.loss": 1.0, "semseg.acc": 1.0},
            KeyError,
            "semseg.acc",
        ),
        ({"semseg.loss": [1.0, 2.0], "depth.loss": 1.0}, TypeError, "semseg.loss"),
    ],
)
def test_bad_loss_dicts(losses, error, match):
    weighting = LPS(TASKS)
    losses = {name: torch.tensor(value) for name, value in losses.items()}
    with pytest.raises(error, match=match):
        weighting(losses)


def test_unknown_task_in_config():
    with pytest.raises(KeyError, match="segsem"):
        LPS(["segsem", "depth"])
    with pytest.raises(ValueError, match="twice"):
        LPS(["depth", "depth"])


def test_end_period_without_iterations():
    weighting = LPS(TASKS)
    with pytest.raises(RuntimeError, match="without any training iteration"):
        weighting.end_period()


def test_non_finite_period_loss():
    weighting = LPS(TASKS, mode="equal")
    weighting.train()
    weighting(
        {"semseg.loss": torch.tensor(float("nan")), "depth.loss": torch.tensor(1.0)}
    )
    with pytest.raises(FloatingPointError, match="semseg"):
        weighting.end_period()
