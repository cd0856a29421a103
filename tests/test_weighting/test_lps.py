import math

import pytest
import torch
from weighting_helpers import feed_period

from mtcp.models.weighting import LPS
from mtcp.models.weighting.lps import clamp_and_normalise

TASKS = ["semseg", "depth", "normals"]

# Two periods of per-task losses (two iterations each), as period means
# P1 = [1.0, 0.5, 0.5] and P2 = [0.4, 0.45, 0.35]: semseg falls fast (easy),
# depth slowly (hard).
PERIOD_1 = [
    {"semseg.loss": 1.2, "depth.loss": 0.4, "normals.loss": 0.5},
    {"semseg.loss": 0.8, "depth.loss": 0.6, "normals.loss": 0.5},
]
PERIOD_2 = [
    {"semseg.loss": 0.5, "depth.loss": 0.45, "normals.loss": 0.3},
    {"semseg.loss": 0.3, "depth.loss": 0.45, "normals.loss": 0.4},
]
# Shares: P1 [1/2, 1/4, 1/4], P2 [1/3, 3/8, 7/24]; ratios r2/r1 =
# [2/3, 3/2, 7/6], mean 10/9. Spread 2.5: 10/9 + 2.5 (w - 10/9) =
# [0, 75/36, 45/36]. semseg is clamped to 0.05; the other two are rescaled
# to fill 3 - 0.05 = 2.95: factor 2.95 / (120/36) = 0.885.
EXPECTED_SPREAD_2_5 = [0.05, 75 / 36 * 0.885, 45 / 36 * 0.885]
# Spread 1 keeps the ratios; rescaled to sum 3: factor 3 / (10/3) = 0.9.
EXPECTED_SPREAD_1 = [2 / 3 * 0.9, 3 / 2 * 0.9, 7 / 6 * 0.9]


def check_weights(weights, min_weight=0.05):
    assert all(math.isfinite(w) for w in weights)
    assert sum(weights) == pytest.approx(len(weights), abs=1e-9)
    assert min(weights) >= min_weight - 1e-12


@pytest.mark.parametrize("mode", ["lps", "prioritize"])
@pytest.mark.parametrize(
    "spread,expected", [(2.5, EXPECTED_SPREAD_2_5), (1.0, EXPECTED_SPREAD_1)]
)
def test_prioritising_modes_k1(mode, spread, expected):
    weighting = LPS(TASKS, mode=mode, history_length=1, spread=spread)
    # In 'lps' mode the history holds log(1 + l): feed raw losses whose
    # projections are the numbers above.
    projected = mode == "lps"
    first = feed_period(weighting, PERIOD_1, projected=projected)
    assert weighting.weights == [1.0, 1.0, 1.0]  # K earlier periods missing
    assert first["period_loss/semseg"] == pytest.approx(1.0)
    assert first["period_loss/depth"] == pytest.approx(0.5)

    second = feed_period(weighting, PERIOD_2, projected=projected)
    assert weighting.weights == pytest.approx(expected, rel=1e-9)
    assert [second[f"weight/{t}"] for t in TASKS] == pytest.approx(expected, rel=1e-9)
    assert [second[f"period_loss/{t}"] for t in TASKS] == pytest.approx(
        [0.4, 0.45, 0.35]
    )
    semseg, depth, normals = weighting.weights
    assert depth > 1 > semseg  # hard task gains weight, easy task loses it
    check_weights(weighting.weights)
    if spread == 2.5:
        assert semseg == 0.05  # the clamp triggered
    first_means, second_means = weighting.history
    assert first_means == pytest.approx([1.0, 0.5, 0.5])
    assert second_means == pytest.approx([0.4, 0.45, 0.35])


def test_lps_k2_compares_with_two_periods_back():
    weighting = LPS(["semseg", "depth"], history_length=2, spread=1.5)
    periods = [[1.0, 1.0], [0.8, 0.9], [0.2, 0.6]]
    for index, (a, b) in enumerate(periods):
        feed_period(weighting, [{"semseg.loss": a, "depth.loss": b}], projected=True)
        if index < 2:
            assert weighting.weights == [1.0, 1.0]
    # Shares P1 [1/2, 1/2], P3 [1/4, 3/4]: ratios [1/2, 3/2], mean 1;
    # spread 1.5: [1 - 0.75, 1 + 0.75] already sums to 2.
    assert weighting.weights == pytest.approx([0.25, 1.75], rel=1e-6)
    assert len(weighting.history) == 3  # K + 1 periods kept
    feed_period(weighting, [{"semseg.loss": 0.1, "depth.loss": 0.6}], projected=True)
    assert len(weighting.history) == 3
    assert weighting.history[0] == pytest.approx([0.8, 0.9])


@pytest.mark.parametrize("mode", ["log", "equal"])
def test_non_prioritising_modes_keep_unit_weights(mode):
    weighting = LPS(TASKS, mode=mode)
    feed_period(weighting, PERIOD_1)
    result = feed_period(weighting, PERIOD_2)
    assert weighting.weights == [1.0, 1.0, 1.0]
    assert result["weight/depth"] == 1.0
    # 'log' keeps the history of projected losses, 'equal' of raw ones.
    project = math.log1p if mode == "log" else float
    expected = (project(0.5) + project(0.3)) / 2
    assert result["period_loss/semseg"] == pytest.approx(expected)


def test_objective_per_mode_with_aux_and_coherence():
    losses = {
        "semseg.loss": torch.tensor(1.0, dtype=torch.float64),
        "semseg.aux_16.loss": torch.tensor(3.0, dtype=torch.float64),
        "semseg.aux_8.loss": torch.tensor(1.0, dtype=torch.float64),
        "depth.loss": torch.tensor(0.5, dtype=torch.float64),
        "coherence.semseg": torch.tensor(0.25, dtype=torch.float64),
    }
    log = math.log1p
    # L_semseg = f(1) + (f(3) + f(1)) / 2, L_depth = f(0.5), + 0.25 unweighted.
    expected = {
        "lps": log(1) + (log(3) + log(1)) / 2 + log(0.5) + 0.25,
        "log": log(1) + (log(3) + log(1)) / 2 + log(0.5) + 0.25,
        "prioritize": 1 + 2 + 0.5 + 0.25,
        "equal": 1 + 2 + 0.5 + 0.25,
    }
    for mode, value in expected.items():
        weighting = LPS(["semseg", "depth"], mode=mode)
        total, log_vars = weighting(losses)
        assert total.item() == pytest.approx(value, rel=1e-12)
        assert list(log_vars)[0] == "loss"
        assert log_vars["loss"].item() == pytest.approx(value, rel=1e-12)
        for name, term in losses.items():
            assert log_vars[name].item() == term.item()
        assert log_vars["weight.semseg"] == 1.0
        assert log_vars["weight.depth"] == 1.0


def test_gradient_treats_weights_as_constants():
    weighting = LPS(TASKS, spread=2.5)
    feed_period(weighting, PERIOD_1, projected=True)
    feed_period(weighting, PERIOD_2, projected=True)
    weights = weighting.weights
    values = {"semseg.loss": 0.7, "depth.loss": 1.5, "normals.loss": 0.2}
    losses = {
        name: torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for name, v in values.items()
    }
    losses["depth.aux_8.loss"] = torch.tensor(
        3.0, dtype=torch.float64, requires_grad=True
    )
    losses["coherence.depth"] = torch.tensor(
        0.1, dtype=torch.float64, requires_grad=True
    )
    total, _ = weighting(losses)
    total.backward()
    for task, weight in zip(TASKS, weights):
        term = losses[f"{task}.loss"]
        assert term.grad.item() == pytest.approx(weight / (1 + term.item()))
    # One intermediate head: S = 1.
    assert losses["depth.aux_8.loss"].grad.item() == pytest.approx(weights[1] / 4)
    assert losses["coherence.depth"].grad.item() == 1.0
    assert not any(p.requires_grad for p in weighting.parameters())


def test_period_statistics_only_while_training():
    weighting = LPS(["semseg", "depth"], mode="equal")
    weighting.train()
    weighting({"semseg.loss": torch.tensor(2.0), "depth.loss": torch.tensor(4.0)})
    weighting.eval()
    weighting({"semseg.loss": torch.tensor(100.0), "depth.loss": torch.tensor(100.0)})
    result = weighting.end_period()
    assert result["period_loss/semseg"] == 2.0
    assert result["period_loss/depth"] == 4.0


def test_clamp_and_normalise_keeps_every_weight_above_the_minimum():
    # Clamping [-1, 0.5, 3] at 0.3 then rescaling all three to sum 3 would
    # give 0.3 * 3 / 3.8 < 0.3. Pass 1: 0.3 fixed, [0.5, 3] scaled by
    # 2.7 / 3.5 -> [0.3857, 2.3143]; nothing else below 0.3.
    result = clamp_and_normalise([-1.0, 0.5, 3.0], 0.3, 3.0)
    assert result == pytest.approx([0.3, 0.5 * 2.7 / 3.5, 3.0 * 2.7 / 3.5])
    # Here the rescale pushes 0.35 under 0.3: pass 1 scales [0.35, 4] by
    # 2.7 / 4.35 -> 0.217; pass 2 fixes it too: [0.3, 0.3, 2.4].
    result = clamp_and_normalise([0.1, 0.35, 4.0], 0.3, 3.0)
    assert result == pytest.approx([0.3, 0.3, 2.4])
    check_weights(result, 0.3)


def test_extreme_history_gives_valid_weights():
    weighting = LPS(TASKS, spread=10.0, min_weight=0.0)
    feed_period(
        weighting, [{"semseg.loss": 50.0, "depth.loss": 1e-4, "normals.loss": 3.0}]
    )
    feed_period(
        weighting, [{"semseg.loss": 1e-3, "depth.loss": 1e-4, "normals.loss": 3.0}]
    )
    check_weights(weighting.weights, 0.0)
    assert weighting.weights[0] == 0.0


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(mode="fancy"), "mode"),
        (dict(history_length=0), "history_length"),
        (dict(history_length=1.5), "history_length"),
        (dict(spread=0.0), "spread"),
        (dict(spread=-1.0), "spread"),
        (dict(min_weight=1.0), "min_weight"),
        (dict(min_weight=-0.1), "min_weight"),
    ],
)
def test_bad_config_values(kwargs, field):
    with pytest.raises((ValueError, TypeError), match=field):
        LPS(TASKS, **kwargs)


def test_period_without_loss_keeps_the_weights():
    weighting = LPS(["semseg", "depth"], mode="prioritize")
    feed_period(weighting, [{"semseg.loss": 2.0, "depth.loss": 1.0}])
    feed_period(weighting, [{"semseg.loss": 1.0, "depth.loss": 1.0}])
    updated = weighting.weights
    assert updated != [1.0, 1.0]
    # no labelled semseg pixel in the whole period: no share, no ratio
    feed_period(weighting, [{"semseg.loss": 0.0, "depth.loss": 1.0}])
    assert weighting.weights == updated
    assert weighting.num_periods == 3
    # the run goes on: the next period with losses updates again
    feed_period(weighting, [{"semseg.loss": 0.5, "depth.loss": 1.0}])
    assert weighting.weights == updated
    feed_period(weighting, [{"semseg.loss": 0.5, "depth.loss": 0.5}])
    assert weighting.weights != updated
