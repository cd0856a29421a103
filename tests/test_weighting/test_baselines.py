import math

import pytest
import torch
from mmseg.registry import MODELS
from weighting_helpers import feed_period

import mtcp  # noqa: F401
from mtcp.models.weighting import DWA, FixedWeights, UncertaintyWeighting


def test_dwa_weights_from_loss_rates():
    weighting = DWA(["semseg", "depth"])
    feed_period(weighting, [{"semseg.loss": 1.0, "depth.loss": 2.0}])
    assert weighting.weights == [1.0, 1.0]
    feed_period(weighting, [{"semseg.loss": 0.5, "depth.loss": 1.8}])
    # Rates r = [0.5 / 1.0, 1.8 / 2.0] = [0.5, 0.9]; temperature 2:
    # w = 2 exp(r / 2) / sum = 2 * [1.284025, 1.568312] / 2.852338 = [0.900332, 1.099668].
    assert weighting.weights == pytest.approx([0.900332, 1.099668], abs=1e-6)
    exps = [math.exp(0.25), math.exp(0.45)]
    assert weighting.weights == pytest.approx([2 * e / sum(exps) for e in exps])
    # Third period: rates against the second period only.
    feed_period(weighting, [{"semseg.loss": 0.5, "depth.loss": 0.9}])
    exps = [math.exp(0.5), math.exp(0.25)]
    assert weighting.weights == pytest.approx([2 * e / sum(exps) for e in exps])
    assert sum(weighting.weights) == pytest.approx(2.0)


def test_dwa_uses_raw_losses_and_constant_weights():
    weighting = DWA(["semseg", "depth"])
    losses = {
        "semseg.loss": torch.tensor(3.0, requires_grad=True),
        "depth.loss": torch.tensor(0.5, requires_grad=True),
        "depth.aux_8.loss": torch.tensor(1.5, requires_grad=True),
    }
    total, log_vars = weighting(losses)
    assert total.item() == pytest.approx(3.0 + 0.5 + 1.5)
    total.backward()
    assert losses["semseg.loss"].grad.item() == 1.0
    assert log_vars["weight.depth"] == 1.0


def test_dwa_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        DWA(["semseg"], temperature=0.0)


def test_fixed_weights():
    weighting = MODELS.build(
        dict(
            type="FixedWeights",
            tasks=["semseg", "depth"],
            weights=dict(depth=2.0, semseg=0.5),
        )
    )
    total, log_vars = weighting(
        {
            "semseg.loss": torch.tensor(4.0),
            "depth.loss": torch.tensor(3.0),
            "coherence.depth": torch.tensor(0.5),
        }
    )
    assert total.item() == pytest.approx(0.5 * 4 + 2 * 3 + 0.5)
    assert log_vars["weight.semseg"] == 0.5
    result = weighting.end_period()
    assert result == {
        "weight/semseg": 0.5,
        "weight/depth": 2.0,
        "period_loss/semseg": 4.0,
        "period_loss/depth": 3.0,
    }


@pytest.mark.parametrize(
    "weights,match",
    [
        (dict(semseg=1.0), "missing \\['depth'\\]"),
        (dict(semseg=1.0, depth=1.0, normals=1.0), "not a task \\['normals'\\]"),
        (dict(semseg=1.0, depth=-1.0), "weights\\['depth'\\]"),
        (dict(semseg=1.0, depth=float("nan")), "weights\\['depth'\\]"),
    ],
)
def test_fixed_weights_bad_config(weights, match):
    with pytest.raises((KeyError, ValueError), match=match):
        FixedWeights(["semseg", "depth"], weights=weights)


def test_uncertainty_weighting_objective_and_gradients():
    weighting = UncertaintyWeighting(["semseg", "depth"])
    with torch.no_grad():
        weighting.log_variances.copy_(torch.tensor([0.0, math.log(2.0)]))
    losses = {
        "semseg.loss": torch.tensor(3.0, requires_grad=True),
        "depth.loss": torch.tensor(4.0, requires_grad=True),
    }
    total, log_vars = weighting(losses)
    # exp(-0) 3 + 0 + exp(-log 2) 4 + log 2
    assert total.item() == pytest.approx(3.0 + 2.0 + math.log(2.0))
    assert log_vars["weight.semseg"] == pytest.approx(1.0)
    assert log_vars["weight.depth"] == pytest.approx(0.5)
    total.backward()
    # d/ds (exp(-s) L + s) = 1 - exp(-s) L: [1 - 3, 1 - 2]
    assert weighting.log_variances.grad.tolist() == pytest.approx([-2.0, -1.0])
    assert losses["depth.loss"].grad.item() == pytest.approx(0.5)
    # The learnt weights are parameters, hence in the state dict.
    assert "log_variances" in weighting.state_dict()


def test_uncertainty_weighting_learns_to_downweight_a_large_loss():
    weighting = UncertaintyWeighting(["semseg", "depth"])
    optimizer = torch.optim.SGD(weighting.parameters(), lr=0.1)
    for _ in range(50):
        total, _ = weighting(
            {"semseg.loss": torch.tensor(10.0), "depth.loss": torch.tensor(0.1)}
        )
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    # The optimum of exp(-s) L + s is s = log L, i.e. weight 1 / L.
    semseg, depth = weighting.weights
    assert semseg < 0.5 < 1.0 < depth
