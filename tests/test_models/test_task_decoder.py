import math

import pytest
import torch
import torch.nn.functional as F

from mtcp.models.decoders import HierarchicalTaskDecoder, PyramidFusion


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    # On a small shared CPU, intra-op threads fight each other and the other
    # processes: one thread is several times faster for these tiny tensors.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def decoder(**kwargs) -> HierarchicalTaskDecoder:
    torch.manual_seed(0)
    model = HierarchicalTaskDecoder(**kwargs)
    model.init_weights()
    return model


@pytest.mark.parametrize("size", [(16, 16), (30, 41), (7, 9)])
def test_stage_and_fused_shapes(size):
    h, w = size
    model = decoder(in_channels=32)
    stages, fused = model(torch.randn(2, 32, h, w))
    expected = [
        (2, 32, h, w),
        (2, 64, math.ceil(h / 2), math.ceil(w / 2)),
        (2, 128, math.ceil(h / 4), math.ceil(w / 4)),
    ]
    assert [tuple(s.shape) for s in stages] == expected
    assert fused.shape == (2, 32, h, w)
    assert model.out_channels == [32, 64, 128]


def test_full_size_channels():
    model = HierarchicalTaskDecoder()
    stages, fused = model(torch.randn(1, 256, 9, 11))
    assert [s.shape[1] for s in stages] == [256, 512, 1024]
    assert [tuple(s.shape[-2:]) for s in stages] == [(9, 11), (5, 6), (3, 3)]
    assert fused.shape == (1, 256, 9, 11)
    assert [len(stage.blocks) for stage in model.stages] == [1, 2, 1]
    assert all(stage.blocks[0].attn.w_msa.num_heads == 2 for stage in model.stages)


@pytest.mark.parametrize("adaptive", [True, False])
def test_gradients_reach_every_parameter(adaptive):
    model = decoder(
        in_channels=32,
        drop_path_rate=0.1,
        fusion=dict(type="PyramidFusion", adaptive=adaptive),
    ).train()
    x = torch.randn(2, 32, 15, 17, requires_grad=True)
    _, fused = model(x)
    fused.pow(2).mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert no_grad == []
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_activation_checkpointing_gives_the_same_result():
    plain = decoder(in_channels=32)
    checkpointed = HierarchicalTaskDecoder(in_channels=32, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(1, 32, 14, 14)
    outputs = []
    for model in (plain, checkpointed):
        model.eval()
        inp = x.clone().requires_grad_()
        _, fused = model(inp)
        fused.sum().backward()
        outputs.append((fused, inp.grad))
    assert torch.allclose(outputs[0][0], outputs[1][0], atol=1e-5)
    assert torch.allclose(outputs[0][1], outputs[1][1], atol=1e-5)


def pyramid():
    return [
        torch.randn(2, 8, 13, 17),
        torch.randn(2, 16, 7, 9),
        torch.randn(2, 32, 4, 5),
    ]


def hand_fusion(fusion, inputs, weights=None):
    laterals = [conv(x) for conv, x in zip(fusion.lateral_convs, inputs)]
    out = laterals[2]
    for i in (1, 0):
        top = F.interpolate(out, size=laterals[i].shape[-2:], mode="bilinear")
        if weights is None:
            out = laterals[i] + top
        else:
            out = weights[i][0] * laterals[i] + weights[i][1] * top
    return fusion.output_conv(out)


def test_plain_fusion_is_the_fpn_sum():
    torch.manual_seed(0)
    fusion = PyramidFusion([8, 16, 32], 8, adaptive=False).eval()
    assert not hasattr(fusion, "merge_weights")
    inputs = pyramid()
    with torch.no_grad():
        assert torch.allclose(fusion(inputs), hand_fusion(fusion, inputs), atol=1e-6)
    with pytest.raises(RuntimeError, match="adaptive=False"):
        fusion.fusion_weights()


def test_adaptive_weights_are_non_negative_and_normalised():
    torch.manual_seed(0)
    fusion = PyramidFusion([8, 16, 32], 8, adaptive=True).eval()
    with torch.no_grad():
        fusion.merge_weights.copy_(torch.tensor([[3.0, -1.0], [0.5, 1.5]]))
    weights = fusion.fusion_weights()
    assert (weights >= 0).all()
    assert torch.allclose(weights.sum(1), torch.ones(2), atol=1e-3)
    # A negative raw weight switches its input off.
    assert weights[0, 1] == 0
    expected_weights = [[1.0, 0.0], [0.25, 0.75]]
    assert torch.allclose(weights, torch.tensor(expected_weights), atol=1e-3)

    inputs = pyramid()
    with torch.no_grad():
        expected = hand_fusion(fusion, inputs, weights.tolist())
        assert torch.allclose(fusion(inputs), expected, atol=1e-6)


def test_bad_configs_and_inputs_are_rejected():
    with pytest.raises(ValueError, match="depths and num_heads"):
        HierarchicalTaskDecoder(in_channels=32, depths=(1, 2), num_heads=(2, 2, 2))
    with pytest.raises(ValueError, match="not divisible"):
        HierarchicalTaskDecoder(in_channels=30, num_heads=(4, 4, 4))
    with pytest.raises(ValueError, match="at least 2 levels"):
        PyramidFusion([8], 8)
    model = HierarchicalTaskDecoder(in_channels=32)
    with pytest.raises(ValueError, match=r"\(B, 32, h, w\)"):
        model(torch.randn(1, 16, 8, 8))
    fusion = PyramidFusion([8, 16, 32], 8)
    with pytest.raises(ValueError, match="input 1"):
        fusion(
            [torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4), torch.randn(1, 32, 2, 2)]
        )
