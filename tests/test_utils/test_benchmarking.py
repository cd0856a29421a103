"""mtcp.utils.benchmarking: the synthetic batch, the config overrides, the
optimizer wrapper, the saved-activation tracker and the FLOP counter."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from torch.utils.flop_counter import FlopCounterMode

from mtcp.structures import TASKS
from mtcp.utils import benchmarking as bm

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "configs" / "mtcp_demo.py")


def test_synthetic_batch_labels_are_valid_and_seeded():
    tasks = ["semseg", "parts", "depth", "normals", "saliency"]
    model = SimpleNamespace(
        tasks=tasks,
        out_channels=dict(semseg=21, parts=7, depth=1, normals=3, saliency=1),
    )
    batch = bm.synthetic_batch(model, 2, (16, 24), seed=3)
    assert [tuple(img.shape) for img in batch["inputs"]] == [(3, 16, 24)] * 2
    assert batch["inputs"][0].dtype == torch.uint8
    for sample in batch["data_samples"]:
        assert sample.metainfo["tasks"] == tasks
        for task in tasks:
            label = getattr(sample, TASKS[task].gt_field).data
            kind = TASKS[task].kind
            if kind == "Normals":
                assert label.shape == (3, 16, 24) and label.dtype == torch.float32
                norms = label.norm(dim=0)
                assert torch.all((norms < 1e-6) | ((norms - 1).abs() < 1e-4))
                invalid = norms < 1e-6
            elif kind == "Depth":
                assert label.shape == (1, 16, 24) and label.min() >= 0
                invalid = label == 0
            else:
                assert label.shape == (1, 16, 24) and label.dtype == torch.int64
                valid = label[label != 255]
                high = (
                    model.out_channels[task]
                    if kind in ("ClassMap", "HumanParts")
                    else 2
                )
                assert valid.min() >= 0 and valid.max() < high
                invalid = label == 255
            # about INVALID_FRACTION of 384 pixels carry no label
            assert 0 < invalid.sum() < 0.15 * 16 * 24
    again = bm.synthetic_batch(model, 2, (16, 24), seed=3)
    assert torch.equal(again["inputs"][1], batch["inputs"][1])
    other = bm.synthetic_batch(model, 2, (16, 24), seed=4)
    assert not torch.equal(other["inputs"][1], batch["inputs"][1])


def test_set_checkpointing_of_the_shipped_config():
    nyud = str(REPO / "configs" / "mtcp_nyud.py")
    shipped = bm.load_config(nyud).model
    cleared = bm.load_config(nyud, with_cp=False).model
    # the shipped config checkpoints the pixel decoder's encoder layers only
    assert shipped.backbone.pixel_decoder_with_cp == "layers"
    assert bm.load_config(nyud, with_cp=True).model.backbone.pixel_decoder_with_cp
    assert cleared.backbone.pixel_decoder_with_cp is False
    for model, value in ((shipped, True), (cleared, False)):
        assert model.backbone.backbone.with_cp is value
        assert model.backbone.transformer_decoder_with_cp is value
        assert model.decoder.with_cp is value and model.loss_with_cp is value
        assert model.cfm.with_cp is value and model.srm.with_cp is value
        assert model.head.with_cp is value
    # the other fields of the parts stay; the pretrained checkpoint is dropped
    assert cleared.cfm.attention == shipped.cfm.attention == "sdpa"
    assert cleared.backbone.init_cfg is None


def test_optim_wrapper_is_the_configs():
    cfg = bm.load_config(DEMO)
    model = nn.Linear(2, 2)
    wrapper = bm.build_benchmark_optim_wrapper(model, cfg)
    assert type(wrapper) is OptimWrapper
    assert isinstance(wrapper.optimizer, torch.optim.AdamW)
    assert wrapper.optimizer.defaults["lr"] == cfg.optim_wrapper.optimizer.lr
    bf16 = bm.build_benchmark_optim_wrapper(model, cfg, "bf16")
    assert isinstance(bf16, bm.CPUAutocastOptimWrapper)
    with bf16.optim_context(model):
        assert model(torch.ones(1, 2)).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="bf16"):
        bm.build_benchmark_optim_wrapper(model, cfg, "fp16")
    tiny = bm.load_config(str(REPO / "configs" / "_base_" / "models" / "mtcp_tiny.py"))
    with pytest.raises(ValueError, match="no optim_wrapper"):
        bm.build_benchmark_optim_wrapper(model, tiny)


def test_saved_tensors_charged_once_per_module():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(3, 4)
    tracker = bm.SavedTensorTracker(model, depth=1)
    with tracker.track():
        model(x).sum().backward()
    # Linear 0 saves its input x (3 x 4 floats; its weight is a parameter and
    # not charged), ReLU its output (3 x 8), Linear 2 its input: the same
    # storage as the ReLU output, charged once.
    assert tracker.saved == {"0": 3 * 4 * 4, "1": 3 * 8 * 4}
    assert tracker.rss_at_backward > 0
    # the hooks are gone afterwards
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_sdpa_flops_counted_on_cpu():
    """The CFM's SDPA counts as many FLOPs as the naive matmuls it replaces."""
    q = torch.randn(2, 1, 64, 16)
    with FlopCounterMode(display=False, custom_mapping=bm.SDPA_CPU_FLOPS) as fused:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    with FlopCounterMode(display=False) as naive:
        torch.softmax(q @ q.transpose(-2, -1), dim=-1) @ q
    assert fused.get_total_flops() == naive.get_total_flops() > 0


def test_flops_by_module():
    model = bm.build_model(bm.load_config(DEMO))
    data = bm.synthetic_batch(model, 1, (64, 64))
    total, by_module = bm.count_flops(model, data, depth=2, min_flops=1)
    assert total == bm.count_flops(model, data)[0] > 0
    cfms = [by_module[f"cfms.{t}"] for t in model.tasks]
    assert cfms[0] == cfms[1] == cfms[2] > 0
    # Containers (ModuleDict) are never called: their children are listed.
    parts = [by_module["backbone"]] + cfms
    parts += [by_module[f"decoders.{t}"] for t in model.tasks]
    assert 0 < by_module["backbone"] and sum(parts) < total


def test_flops_and_params_by_part_add_up():
    model = bm.build_model(bm.load_config(DEMO))
    data = bm.synthetic_batch(model, 1, (64, 64))
    total, parts = bm.flops_by_part(model, data)
    # every op in exactly one part; MT-CP runs nothing outside its parts
    assert set(parts) == {"backbone", "decoders", "cfms", "srms", "heads"}
    assert sum(parts.values()) == total == bm.count_flops(model, data)[0]
    # the parts of the same tasks: the per-task modules summed
    _, by_module = bm.count_flops(model, data, depth=2, min_flops=0)
    assert parts["cfms"] == sum(by_module[f"cfms.{t}"] for t in model.tasks)
    params = bm.params_by_part(model)
    assert sum(params.values()) == sum(p.numel() for p in model.parameters())
    assert params["data_preprocessor"] == 0 and params["backbone"] > 0
