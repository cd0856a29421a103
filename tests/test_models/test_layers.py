import pytest
import torch
import torch.nn.functional as F

from mtcp.models.layers import CBAM, CoherenceFusionModule, SpatialRefinementModule
from mtcp.models.layers.cbam import amax as cbam_amax


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Two shared CPU cores: intra-op threads only add contention at these sizes.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomise_norms(module):
    """Give every BN non-trivial running statistics and affine parameters."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


def test_cbam_matches_hand_computation():
    torch.manual_seed(0)
    # float64: the module's convolutions against explicit matrix products
    cbam = CBAM(4, reduction=2, min_hidden_channels=1).double()
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    w1 = cbam.mlp[0].conv.weight.flatten(1)
    b1 = cbam.mlp[0].conv.bias
    w2 = cbam.mlp[1].weight.flatten(1)
    b2 = cbam.mlp[1].bias
    assert w1.shape == (2, 4)  # hidden = 4 // 2

    def mlp(v):  # v: (B, C)
        return torch.relu(v @ w1.T + b1) @ w2.T + b2

    cg = torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))[:, :, None, None]
    y = x * cg
    maps = torch.stack([y.amax(1), y.mean(1)], dim=1)
    sg = torch.sigmoid(
        F.conv2d(maps, cbam.spatial_conv.weight, cbam.spatial_conv.bias, padding=3)
    )
    expected = y * sg
    torch.testing.assert_close(cbam(x), expected)
    torch.testing.assert_close(cbam.channel_gate(x), cg)


def test_cbam_gates_and_hidden_width():
    torch.manual_seed(0)
    cbam = CBAM(32)
    x = torch.randn(2, 32, 7, 9) * 10
    cg, sg = cbam.channel_gate(x), cbam.spatial_gate(x)
    assert cg.shape == (2, 32, 1, 1) and sg.shape == (2, 1, 7, 9)
    for g in (cg, sg):
        assert g.min() >= 0 and g.max() <= 1
    assert cbam(x).shape == x.shape
    # 32 // 16 = 2 is raised to the minimum hidden width 8; 256 // 16 = 16 stays.
    assert cbam.mlp[0].conv.out_channels == 8
    assert CBAM(256).mlp[0].conv.out_channels == 16
    with pytest.raises(ValueError, match="CBAM expects"):
        cbam(torch.randn(1, 16, 4, 4))
    with pytest.raises(ValueError, match="odd"):
        CBAM(8, kernel_size=4)


def make_cfm(**kwargs):
    torch.manual_seed(0)
    cfm = CoherenceFusionModule(8, 2, **kwargs)
    with torch.no_grad():
        randomise_norms(cfm)
    return cfm


def reference_cfm(cfm, main, aux, factor=1):
    """The CFM written out with explicit matrices (eval mode)."""
    gated = torch.cat([torch.sigmoid(g(a)) * a for g, a in zip(cfm.gates, aux)], 1)
    aux_p = F.relu(cfm.aux_norm(cfm.aux_cbam(cfm.aux_proj(gated))))
    main_p = F.relu(cfm.main_norm(cfm.main_cbam(main)))
    c = main.shape[1]
    wq, bq = cfm.query.weight.flatten(1), cfm.query.bias
    wk, bk = cfm.key.weight.flatten(1), cfm.key.bias
    q = torch.einsum("oc,bchw->bohw", wq, aux_p) + bq[:, None, None]
    k = torch.einsum("oc,bchw->bohw", wk, aux_p) + bk[:, None, None]
    v = main_p
    if factor > 1:
        k = F.avg_pool2d(k, factor, ceil_mode=True)
        v = F.avg_pool2d(v, factor, ceil_mode=True)
    q, k, v = (t.flatten(2) for t in (q, k, v))  # (B, C, N)
    affinity = torch.softmax(torch.einsum("bcn,bcm->bnm", q, k) / c**0.5, dim=-1)
    out = torch.einsum("bnm,bcm->bcn", affinity, v).reshape(main.shape)
    return cfm.out_norm(cfm.out_cbam(out))


@pytest.mark.parametrize("attention", ["sdpa", "naive"])
@pytest.mark.parametrize("factor", [1, 2])
def test_cfm_matches_explicit_attention(attention, factor):
    # float64: the claim is mathematical equality, not a float32 kernel order.
    cfm = make_cfm(attention=attention, kv_downsample=factor).eval().double()
    main = torch.randn(2, 8, 5, 7, dtype=torch.float64)
    aux = [torch.randn(2, 8, 5, 7, dtype=torch.float64) for _ in range(2)]
    with torch.no_grad():
        out, loss = cfm(main, aux)
        expected = reference_cfm(cfm, main, aux, factor)
    assert out.shape == main.shape and loss.dim() == 0
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)


def test_cfm_sdpa_equals_naive_in_training():
    # float64: in float32 the two kernels' summation orders differ by ~1e-4 on
    # some CPUs; the claim under test is that they compute the same function.
    sdpa = make_cfm(attention="sdpa").double()
    naive = make_cfm(attention="naive").double()
    naive.load_state_dict(sdpa.state_dict())
    main = torch.randn(2, 8, 6, 6, dtype=torch.float64, requires_grad=True)
    aux = [torch.randn(2, 8, 6, 6, dtype=torch.float64) for _ in range(2)]
    out_s, loss_s = sdpa(main, aux)
    out_n, loss_n = naive(main, aux)
    torch.testing.assert_close(out_s, out_n, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(loss_s, loss_n, rtol=1e-10, atol=1e-12)
    g_s = torch.autograd.grad((out_s**2).sum() + loss_s, main)[0]
    g_n = torch.autograd.grad((out_n**2).sum() + loss_n, main)[0]
    torch.testing.assert_close(g_s, g_n, rtol=1e-10, atol=1e-12)


def test_cfm_gradient_reaches_every_parameter_and_input():
    cfm = make_cfm()
    main = torch.randn(2, 8, 5, 5, requires_grad=True)
    aux = [torch.randn(2, 8, 5, 5, requires_grad=True) for _ in range(2)]
    out, loss = cfm(main, aux)
    (out.square().mean() + loss).backward()
    for name, p in cfm.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    for t in [main] + aux:
        assert t.grad.abs().sum() > 0


def test_cfm_residual_adds_main():
    plain, residual = make_cfm(), make_cfm(residual=True)
    residual.load_state_dict(plain.state_dict())
    plain.eval(), residual.eval()
    main = torch.randn(1, 8, 4, 4)
    aux = [torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)]
    torch.testing.assert_close(residual(main, aux)[0], plain(main, aux)[0] + main)


def test_coherence_loss_values():
    cfm = make_cfm()
    m = torch.rand(2, 8, 3, 3) + 0.1
    # Same direction, different length: cos = 1, loss = 0.
    assert cfm.coherence_loss(m, 3 * m).abs() < 1e-6
    assert torch.isclose(cfm.coherence_loss(m, -m), torch.tensor(2.0))
    e0 = torch.zeros(1, 8, 2, 2)
    e0[:, 0] = 1
    e1 = torch.zeros(1, 8, 2, 2)
    e1[:, 1] = 2
    assert torch.isclose(cfm.coherence_loss(e0, e1), torch.tensor(1.0))
    # Zero vectors (all channels killed by a ReLU): finite loss and gradient.
    z = torch.zeros(1, 8, 2, 2, requires_grad=True)
    loss = cfm.coherence_loss(z, e1)
    loss.backward()
    assert torch.isclose(loss, torch.tensor(1.0)) and torch.isfinite(z.grad).all()


def test_coherence_loss_is_the_normalised_product():
    """float64: loss and gradients equal those of ``F.normalize`` on both
    maps, also for zero vectors and vectors shorter than eps."""
    cfm = make_cfm()
    g = torch.Generator().manual_seed(0)
    m = torch.randn(2, 8, 3, 3, generator=g, dtype=torch.float64)
    a = torch.randn(2, 8, 3, 3, generator=g, dtype=torch.float64)
    m[0, :, 0, 0] = 0.0
    a[1, :, 1, 1] = 1e-9  # norm below eps = 1e-6
    m.requires_grad_(), a.requires_grad_()
    expected = (
        1.0
        - (F.normalize(m, dim=1, eps=cfm.eps) * F.normalize(a, dim=1, eps=cfm.eps))
        .sum(1)
        .mean()
    )
    loss = cfm.coherence_loss(m, a)
    for got, want in zip(
        (loss, *torch.autograd.grad(loss, (m, a))),
        (expected, *torch.autograd.grad(expected, (m, a))),
    ):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_cbam_amax_gradient_is_torchs():
    """float64, ties included (post-ReLU zeros, repeated maxima): the
    gradient is split evenly among a slice's maxima, as ``Tensor.amax``."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 4, 5, generator=g, dtype=torch.float64).relu()
    x[0, 1:3, 2, 2] = 5.0  # two channels tie at the maximum of a pixel
    x[1, 4] = 0.0  # a channel without a positive value: every pixel ties
    x.requires_grad_()
    for dim in (1, (2, 3)):
        grad = torch.randn_like(x.amax(dim=dim, keepdim=True))
        out = cbam_amax(x, dim)
        torch.testing.assert_close(out, x.amax(dim=dim, keepdim=True))
        got = torch.autograd.grad(out, x, grad)[0]
        want = torch.autograd.grad(x.amax(dim=dim, keepdim=True), x, grad)[0]
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_cfm_rejects_bad_inputs():
    cfm = make_cfm()
    x = torch.randn(1, 8, 4, 4)
    with pytest.raises(ValueError, match="built for 2 auxiliary maps, got 1"):
        cfm(x, [x])
    with pytest.raises(ValueError, match=r"expects main of shape \(B, 8"):
        cfm(torch.randn(1, 4, 4, 4), [x, x])
    with pytest.raises(ValueError, match="auxiliary map 1"):
        cfm(x, [x, torch.randn(1, 8, 2, 2)])
    with pytest.raises(ValueError, match="attention must be"):
        CoherenceFusionModule(8, 2, attention="flash")
    with pytest.raises(ValueError, match="num_aux >= 1"):
        CoherenceFusionModule(8, 0)


def test_srm_shapes_and_hand_computation():
    torch.manual_seed(0)
    srm = SpatialRefinementModule(8, 32, 8).eval()
    with torch.no_grad():
        randomise_norms(srm)
    x = torch.randn(2, 8, 9, 11)
    b = torch.randn(2, 32, 3, 3)  # ceil(9 / 4), ceil(11 / 4)
    with torch.no_grad():
        carry, side = srm(x, b)
        xr = F.interpolate(
            srm.x_cbam(x), size=(3, 3), mode="bilinear", align_corners=False
        )
        cat = torch.cat([xr, srm.b_cbam(b)], 1)
    assert carry.shape == side.shape == (2, 8, 3, 3)
    torch.testing.assert_close(carry, srm.carry(cat))
    torch.testing.assert_close(side, srm.side(cat))
    assert not torch.allclose(carry, side)
    assert (carry >= 0).all() and (side >= 0).all()  # ReLU branches


def test_srm_without_carry_and_gradients():
    torch.manual_seed(0)
    srm = SpatialRefinementModule(8, 16, 8, with_carry=False)
    x = torch.randn(2, 8, 8, 8, requires_grad=True)
    b = torch.randn(2, 16, 16, 16, requires_grad=True)
    carry, side = srm(x, b)
    assert carry is None and side.shape == (2, 8, 16, 16)
    assert not hasattr(srm, "carry")
    side.square().mean().backward()
    for name, p in srm.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"decoder stage b of shape \(B, 16"):
        srm(x, torch.randn(2, 8, 4, 4))


def test_cfm_sdpa_runs_on_a_fused_kernel():
    # The math fallback materialises the (HW x HW) affinity; restricting SDPA
    # to the flash kernel makes any fallback an error.
    from torch.nn.attention import SDPBackend, sdpa_kernel

    cfm = make_cfm()
    main = torch.randn(2, 8, 6, 7, requires_grad=True)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        out, loss = cfm(main, [torch.randn(2, 8, 6, 7), torch.randn(2, 8, 6, 7)])
        (out.sum() + loss).backward()
    assert torch.isfinite(main.grad).all()
