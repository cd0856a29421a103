"""mtcp.utils.profiling: every operator of a profiled training step charged
to its component and phase (forward, recomputation of a checkpointed block,
backward, optimizer)."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mtcp.models.utils import checkpoint
from mtcp.utils import profiling

RULES = (("^plain", "plain"), ("^ckpt", "checkpointed"), ("^attn", "attn"))


class Checkpointed(nn.Module):
    """Two linears and a ReLU, recomputed in the backward."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(64, 64)
        self.outer = nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checkpoint(lambda y: self.outer(self.inner(y).relu()), x)


class Attention(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x.view(1, 1, -1, 16)
        return F.scaled_dot_product_attention(q, q, q).reshape(x.shape)


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.plain = nn.Linear(64, 64)
        self.ckpt = Checkpointed()
        self.attn = Attention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(self.ckpt(self.plain(x)))


def _step(model, optimizer, x):
    def step():
        optimizer.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


@pytest.fixture(scope="module")
def summary():
    torch.manual_seed(0)
    model = Toy()
    step = _step(model, torch.optim.AdamW(model.parameters()), torch.randn(32, 64))
    step()
    loss, summary = profiling.profile_step(step, model, RULES)
    assert torch.isfinite(loss)
    # the module ranges are gone afterwards
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    return summary


def test_phases_of_each_component(summary):
    rows = summary["seconds"]
    assert rows["plain"]["forward"] > 0 and rows["plain"]["backward"] > 0
    assert "recompute" not in rows["plain"]
    ckpt = rows["checkpointed"]
    assert ckpt["forward"] > 0 and ckpt["recompute"] > 0 and ckpt["backward"] > 0
    # the attention kernel is its own row, forward and backward, not recomputed
    attention = rows["attn attention"]
    assert attention["forward"] > 0 and attention["backward"] > 0
    assert "recompute" not in attention
    assert rows["optimizer"]["optimizer"] > 0
    # every operator's own time is charged once: the sum is within the step
    charged = sum(sum(phases.values()) for phases in rows.values())
    assert 0 < charged <= summary["wall_s"]


def test_recompute_outside_submodules_is_recompute():
    """Operators a checkpointed function runs itself (not in a submodule)
    are told from the backward by the recompute range of mtcp's checkpoint."""

    class Body(nn.Module):
        def forward(self, x):
            return checkpoint(lambda y: (y.sin() * y.cos()).exp(), x)

    model = nn.Sequential()
    model.add_module("ckpt", Body())
    x = torch.randn(256, 256, requires_grad=True)
    with profiling.module_ranges(model), torch.profiler.profile() as prof:
        model(x).sum().backward()
    rows = profiling.summarize(prof.events(), 1.0, RULES)["seconds"]
    names = {e.name for e in prof.events()}
    assert profiling.RECOMPUTE_RANGE in names
    assert rows["checkpointed"]["recompute"] > 0


def test_kernel_flops_of_the_attention():
    torch.manual_seed(0)
    model = Toy()
    x = torch.randn(32, 64)
    with profiling.module_ranges(model), torch.profiler.profile(
        record_shapes=True, with_flops=True
    ) as prof:
        model(x).square().mean().backward()
    kernels = profiling.summarize(prof.events(), 1.0, RULES)["kernels"]
    # q = k = v (1, 1, 128, 16): forward 4 * 128^2 * 16, backward 2.5 times it
    flops, seconds = kernels["attention (flash, fwd + bwd)"]
    assert flops == pytest.approx(3.5 * 4 * 128 * 128 * 16) and seconds > 0
    # the forward linears: 3 x (2 * 32 * 64 * 64) at least, backward mm too
    assert kernels["matmuls (aten::mm, addmm, bmm)"][0] >= 3 * 2 * 32 * 64 * 64


def test_component_rules_of_mtcp():
    of = profiling.component_of
    assert of("backbone.backbone.stages.2.blocks.0") == "backbone (Swin)"
    assert of("backbone.decode_head.pixel_decoder.encoder") == "pixel decoder"
    assert of("backbone.decode_head.transformer_decoder") == (
        "transformer decoder and mask heads"
    )
    assert of("decoders.depth.fusion") == "task decoders"
    assert of("cfms.semseg.out_cbam") == "CFM"
    assert of("heads.semseg.final.conv") == "heads"
    assert of("heads.semseg.loss") == "losses (at label size)"
    assert of("heads.depth.loss_decode") == "losses (at label size)"
    assert of("") == "model (outside submodules)"


def test_format_profile_rows(summary):
    table = profiling.format_profile(summary, peak=100.0)
    assert table.startswith("| component | forward s | recompute s | backward s |")
    assert "| optimizer |" in table and "**step (wall, profiled)**" in table
    assert "| peak: 2048^3 fp32 matmul, this process | | | 100.0 |" in table
