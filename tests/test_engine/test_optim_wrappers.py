"""CPUAutocastOptimWrapper: built from a config by mmengine, the forward
runs in bfloat16 under its context, the weights and their update stay
float32, and float16 is refused."""

import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

from mtcp.engine import CPUAutocastOptimWrapper


def test_bf16_forward_fp32_update():
    torch.manual_seed(0)
    model, x = nn.Linear(8, 4), torch.randn(16, 8)
    before = model.weight.detach().clone()
    model(x).square().mean().backward()
    expected = before - 0.1 * model.weight.grad  # SGD's step in float32
    model.zero_grad(set_to_none=True)
    cfg = dict(
        type="CPUAutocastOptimWrapper",
        dtype="bfloat16",
        optimizer=dict(type="SGD", lr=0.1),
    )
    wrapper = build_optim_wrapper(model, cfg)
    assert isinstance(wrapper, CPUAutocastOptimWrapper)
    with wrapper.optim_context(model):
        out = model(x)
        loss = out.float().square().mean()
    assert out.dtype == torch.bfloat16
    wrapper.update_params(loss)
    assert model.weight.dtype == torch.float32
    # the step moved the weights, by float32's step up to bfloat16 rounding
    assert (model.weight.detach() - before).abs().max() > 0.01
    torch.testing.assert_close(model.weight.detach(), expected, rtol=0, atol=2e-3)


def test_float16_refused():
    with pytest.raises(ValueError, match="must be torch.bfloat16"):
        CPUAutocastOptimWrapper(
            optimizer=torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1),
            dtype=torch.float16,
        )
