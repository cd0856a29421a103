"""Activation checkpointing changes memory, not maths: with each switch on,
the outputs, losses, gradients and BN running statistics of a training step
equal those without checkpointing (tiny model, float64)."""

import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS

import mtcp  # noqa: F401  (registers the modules)
from mtcp.structures import TASKS, MultiTaskDataSample

CONFIG = osp.join(
    osp.dirname(__file__), "..", "..", "configs", "_base_", "models", "mtcp_tiny.py"
)
TASKS3 = ["semseg", "depth", "normals"]
# Every checkpointing switch of the model config, as --cfg-options keys.
SWITCHES = [
    "backbone.backbone.with_cp",
    "backbone.pixel_decoder_with_cp",
    "backbone.transformer_decoder_with_cp",
    "decoder.with_cp",
    "cfm.with_cp",
    "srm.with_cp",
    "head.with_cp",
    "loss_with_cp",
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(switches, value=True):
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({f"model.{k}": value for k in switches})
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.double().train()


def batch(n=2, h=64, w=64):
    """Random float64 images and labels of the three NYUD tasks, 5 % of the
    pixels ignored / invalid."""
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(n, 3, h, w, generator=g, dtype=torch.float64)
    samples = []
    for _ in range(n):
        invalid = torch.rand(1, h, w, generator=g) < 0.05
        semseg = torch.randint(0, 4, (1, h, w), generator=g).masked_fill(invalid, 255)
        depth = 0.5 + 9.5 * torch.rand(1, h, w, generator=g, dtype=torch.float64)
        normals = torch.nn.functional.normalize(
            torch.randn(3, h, w, generator=g, dtype=torch.float64), dim=0
        )
        sample = MultiTaskDataSample(metainfo=dict(img_shape=(h, w)))
        labels = dict(
            semseg=semseg,
            depth=depth.masked_fill(invalid, 0.0),
            normals=normals.masked_fill(invalid, 0.0),
        )
        for t in TASKS3:
            setattr(sample, TASKS[t].gt_field, PixelData(data=labels[t]))
        samples.append(sample)
    return inputs, samples


def step(model):
    """Outputs and losses of a training forward, then the gradients and the
    BN running statistics after the backward of the summed losses."""
    inputs, samples = batch()
    feats, _ = model.extract_feats(inputs)
    outputs = {t: model.heads[t].forward(feats[t]) for t in model.tasks}
    losses = model.loss(inputs, samples)
    sum(losses.values()).backward()
    grads = {
        n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None
    }
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    flat = {f"{t}.{k}": v.detach() for t, o in outputs.items() for k, v in o.items()}
    return flat, {k: v.detach() for k, v in losses.items()}, grads, buffers


@pytest.fixture(scope="module")
def reference():
    return step(build([]))


def assert_same(actual, expected, what):
    assert actual.keys() == expected.keys(), what
    for key in expected:
        torch.testing.assert_close(
            actual[key], expected[key], rtol=1e-10, atol=1e-12, msg=f"{what} {key}"
        )


@pytest.mark.parametrize(
    "switches", [[s] for s in SWITCHES] + [SWITCHES], ids=SWITCHES + ["all"]
)
def test_checkpointing_keeps_the_maths(reference, switches):
    model = build(switches)
    outputs, losses, grads, buffers = step(model)
    ref_outputs, ref_losses, ref_grads, ref_buffers = reference
    assert_same(outputs, ref_outputs, "output")
    assert_same(losses, ref_losses, "loss")
    # Every trainable parameter gets a gradient, with or without the switch.
    assert len(ref_grads) == sum(p.requires_grad for p in model.parameters())
    assert_same(grads, ref_grads, "gradient of")
    # The recomputed forward does not update the BN statistics a second time.
    assert_same(buffers, ref_buffers, "buffer")


def test_pixel_decoder_layers_only_keeps_the_maths(reference):
    """``pixel_decoder_with_cp='layers'``: the encoder layers alone."""
    model = build(["backbone.pixel_decoder_with_cp"], "layers")
    encoder = model.backbone.decode_head.pixel_decoder.encoder
    assert type(encoder).__name__ == "CheckpointedPixelDecoderEncoder"
    for actual, expected, what in zip(
        step(model), reference, ("output", "loss", "gradient of", "buffer")
    ):
        assert_same(actual, expected, what)


def test_switches_reach_the_modules():
    model = build(SWITCHES)
    assert model.backbone.pixel_decoder_with_cp
    assert model.backbone.transformer_decoder_with_cp
    assert model.loss_with_cp
    for t in TASKS3:
        assert model.cfms[t].with_cp
        assert all(srm.with_cp for srm in model.srms[t])
        assert all(head.with_cp for head in model.heads[t].levels.values())
