"""The export-only forms compute what the modules they replace compute
(float64), and export_mode leaves the model as it found it."""

import os.path as osp

import pytest
import torch
from mmcv.ops import MultiScaleDeformableAttention
from mmengine.config import Config
from mmseg.models.backbones.swin import ShiftWindowMSA
from mmseg.registry import MODELS

import mtcp  # noqa: F401  (registers the modules)
from mtcp.deployment import (
    ExportableCoherenceFusionModule,
    ExportableMSDeformAttn,
    ExportablePixelDecoder,
    ExportableShiftWindowMSA,
    export_mode,
)
from mtcp.models.backbones import SharedMask2Former
from mtcp.models.backbones.mask2former_configs import arch_configs
from mtcp.models.layers import CoherenceFusionModule

TINY_CONFIG = osp.join(
    osp.dirname(__file__), "..", "..", "configs", "_base_", "models", "mtcp_tiny.py"
)
LEVELS = [(5, 7), (3, 4), (2, 2)]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomise(module: torch.nn.Module, scale: float = 0.3) -> torch.nn.Module:
    """Every parameter random, so no zero-initialised layer hides a term."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * scale)
    return module


def deformable_attention() -> MultiScaleDeformableAttention:
    attn = MultiScaleDeformableAttention(
        embed_dims=16,
        num_heads=2,
        num_levels=len(LEVELS),
        num_points=3,
        batch_first=True,
    )
    return randomise(attn).double().eval()


@pytest.mark.parametrize("padding_mask", [False, True])
def test_deformable_attention_equals_mmcv(padding_mask):
    attn = deformable_attention()
    n = sum(h * w for h, w in LEVELS)
    g = torch.Generator().manual_seed(2)
    query = torch.randn(2, n, 16, generator=g, dtype=torch.float64)
    pos = torch.randn(2, n, 16, generator=g, dtype=torch.float64)
    # points partly outside [0, 1]: the zero padding of the sampling counts
    ref = torch.rand(2, n, len(LEVELS), 2, generator=g, dtype=torch.float64) * 1.2 - 0.1
    mask = torch.rand(2, n, generator=g) < 0.3 if padding_mask else None
    shapes = torch.tensor(LEVELS)
    starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
    expected = attn(
        query=query,
        query_pos=pos,
        key_padding_mask=mask,
        reference_points=ref,
        spatial_shapes=shapes,
        level_start_index=starts,
    )
    with export_mode(attn):
        assert type(attn) is ExportableMSDeformAttn
        got = attn(
            query=query,
            query_pos=pos,
            key_padding_mask=mask,
            reference_points=ref,
            spatial_shapes=LEVELS,
        )
    assert type(attn) is MultiScaleDeformableAttention
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_pixel_decoder_equals_mmdet():
    torch.manual_seed(0)
    model = SharedMask2Former(*arch_configs("tiny"))
    decoder = randomise(model.decode_head.pixel_decoder).double().eval()
    g = torch.Generator().manual_seed(3)
    sizes = [(12, 20), (6, 10), (3, 5), (2, 3)]
    feats = [
        torch.randn(2, 16 * 2**i, h, w, generator=g, dtype=torch.float64)
        for i, (h, w) in enumerate(sizes)
    ]
    with torch.no_grad():
        mask_features, levels = decoder(feats)
        with export_mode(decoder):
            assert type(decoder) is ExportablePixelDecoder
            got_features, got_levels = decoder(feats)
    assert len(got_levels) == len(levels) == 3
    torch.testing.assert_close(got_features, mask_features, rtol=0, atol=1e-12)
    for got, expected in zip(got_levels, levels):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shift", [0, 3])
@pytest.mark.parametrize("hw", [(10, 13), (14, 7)])
def test_shifted_window_attention_equals_mmseg(shift, hw):
    attn = ShiftWindowMSA(embed_dims=8, num_heads=2, window_size=7, shift_size=shift)
    attn = randomise(attn).double().eval()
    g = torch.Generator().manual_seed(4)
    tokens = torch.randn(2, hw[0] * hw[1], 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        expected = attn(tokens, hw)
        with export_mode(attn):
            assert type(attn) is ExportableShiftWindowMSA
            got = attn(tokens, hw)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_shift_mask_is_swins():
    attn = ShiftWindowMSA(embed_dims=8, num_heads=2, window_size=4, shift_size=2)
    attn.__class__ = ExportableShiftWindowMSA
    mask = attn._shift_mask(2, 1, torch.zeros(1))
    # 2 x 1 windows of 4 x 4; the last window row holds regions 1 and 2
    # along the height and the last window column 1 and 2 along the width.
    assert mask.shape == (2, 16, 16)
    pixel = lambda r, c: 4 * r + c  # noqa: E731  (index inside a window)
    # first window (rows 0-3): regions differ only along the width
    assert mask[0, pixel(0, 0), pixel(3, 1)] == 0
    assert mask[0, pixel(0, 0), pixel(0, 2)] == -100
    # second window (rows 4-7): also along the height
    assert mask[1, pixel(0, 0), pixel(1, 1)] == 0
    assert mask[1, pixel(0, 0), pixel(2, 0)] == -100
    assert mask[1, pixel(2, 2), pixel(3, 3)] == 0


@pytest.mark.parametrize("tokens", [(37, 37), (9, 21)])
def test_blocked_cfm_attention_equals_sdpa(tokens):
    """Queries in 16 blocks (some empty when there are fewer than 16)."""
    cfm = CoherenceFusionModule(channels=8, num_aux=1).double()
    g = torch.Generator().manual_seed(5)
    q, k, v = (
        torch.randn(2, 1, n, 8, generator=g, dtype=torch.float64) * 3
        for n in (tokens[0], tokens[1], tokens[1])
    )
    expected = cfm._attend_tokens(q, k, v)
    with export_mode(cfm):
        assert type(cfm) is ExportableCoherenceFusionModule
        got = cfm._attend_tokens(q, k, v)
    assert type(cfm) is CoherenceFusionModule and cfm.attention == "sdpa"
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def build_tiny_mtcp() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY_CONFIG)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def test_whole_model_equal_in_export_mode_and_restored_after():
    model = build_tiny_mtcp().double()
    classes = {name: type(m) for name, m in model.named_modules()}
    image = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    with torch.no_grad():
        expected = model._forward(image)
        with export_mode(model):
            switched = {
                name
                for name, m in model.named_modules()
                if type(m) is not classes[name]
            }
            got = model._forward(image)
    # 4 Swin blocks, the pixel decoder and its encoder layer's attention,
    # and per task its decoder's 3 Swin blocks and its CFM
    assert len(switched) == 4 + 2 + 3 * (3 + 1)
    for task in model.tasks:
        torch.testing.assert_close(got[task], expected[task], rtol=0, atol=1e-10)
    assert {name: type(m) for name, m in model.named_modules()} == classes


def test_export_mode_restores_after_an_error():
    model = build_tiny_mtcp()
    with pytest.raises(RuntimeError, match="inside"):
        with export_mode(model):
            raise RuntimeError("inside")
    assert type(model.backbone.decode_head.pixel_decoder).__name__ == (
        "MSDeformAttnPixelDecoder"
    )
