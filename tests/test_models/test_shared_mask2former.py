import json
import logging
import os.path as osp
import re
from contextlib import contextmanager
from urllib.error import URLError

import mmseg
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

from mtcp.models.backbones import (
    MASK2FORMER_SWIN_S_ADE20K_URL,
    SharedMask2Former,
    arch_configs,
    mmseg_config_path,
)
from mtcp.utils.strict_loading import CheckpointError

MMSEG_CONFIG = osp.join(
    osp.dirname(mmseg.__file__),
    ".mim/configs/mask2former/mask2former_swin-s_8xb2-160k_ade20k-512x512.py",
)
SWIN_S, MASK2FORMER_HEAD_SWIN_S = arch_configs("swin-s")
TINY_SWIN, TINY_MASK2FORMER_HEAD = arch_configs("tiny")


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    # On a small shared CPU, intra-op threads fight each other and the other
    # processes: one thread is several times faster for these tiny tensors.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(**kwargs) -> SharedMask2Former:
    torch.manual_seed(0)
    model = SharedMask2Former(TINY_SWIN, TINY_MASK2FORMER_HEAD, **kwargs)
    model.init_weights()
    return model


def tiny_pretrained(path: str) -> SharedMask2Former:
    """The tiny model, to be initialised from the checkpoint ``path``."""
    return SharedMask2Former(
        TINY_SWIN,
        TINY_MASK2FORMER_HEAD,
        init_cfg=dict(type="Pretrained", checkpoint=path),
    )


@contextmanager
def log_capture():
    """The messages mmengine's current logger emits inside the block."""
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def as_plain(cfg) -> dict:
    # Configs hold tuples where the defaults hold lists: compare the JSON view.
    return json.loads(json.dumps(cfg))


@pytest.mark.parametrize("mask_layers", ["last", "all"])
@pytest.mark.parametrize("mask_act", ["sigmoid", None])
def test_tiny_forward_backward_reaches_every_trainable_parameter(mask_act, mask_layers):
    model = tiny(mask_act=mask_act, mask_layers=mask_layers)
    model.train()
    out = model(torch.randn(2, 3, 64, 64))
    out.pow(2).mean().backward()

    assert out.shape == (2, TINY_MASK2FORMER_HEAD["out_channels"], 16, 16)
    assert model.out_channels == 32
    assert not model.decode_head.cls_embed.weight.requires_grad
    no_grad = [
        n for n, p in model.named_parameters() if p.requires_grad and p.grad is None
    ]
    assert no_grad == []


@pytest.mark.parametrize("mask_layers", ["last", "all"])
@pytest.mark.parametrize("mask_act", ["sigmoid", None])
def test_shared_representation_is_the_sum_over_queries(mask_act, mask_layers):
    # float64: the fused sum and the explicit product are equal in exact
    # arithmetic; float32 would test the kernels' summation order instead.
    model = tiny(mask_act=mask_act, mask_layers=mask_layers).eval().double()
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        out = model(x)
        mask_features, mask_logits = model.forward_masks(x)
    num_layers = TINY_MASK2FORMER_HEAD["transformer_decoder"]["num_layers"]
    assert len(mask_logits) == (num_layers if mask_layers == "all" else 1)
    act = torch.sigmoid if mask_act == "sigmoid" else (lambda m: m)
    # The explicit (B, Q, C, h, w) product the module must never build.
    per_layer = [
        (mask_features[:, None] * act(m)[:, :, None]).sum(1) for m in mask_logits
    ]
    expected = torch.stack(per_layer).mean(0)
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=1e-10)


def test_matches_mmseg_mask2former_swin_s(tmp_path):
    """The issue's acceptance test: mmseg's own Swin-S Mask2Former checkpoint
    loads with no key remapping and gives the same outputs."""
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(MMSEG_CONFIG)
    cfg.model.backbone.init_cfg = None
    # Normalisation is not under test and its type needs mmseg's default scope.
    cfg.model.pop("data_preprocessor")
    assert as_plain(cfg.model.backbone) == as_plain(SWIN_S)
    assert as_plain(cfg.model.decode_head) == as_plain(MASK2FORMER_HEAD_SWIN_S)

    torch.manual_seed(0)
    # PyTorch's default initialisation is random enough and skips Swin-S's
    # slow truncated-normal init.
    reference = MODELS.build(cfg.model).eval()
    state_dict = reference.state_dict()
    path = str(tmp_path / "mask2former_swin-s.pth")
    torch.save(
        {"meta": {"mmseg_version": mmseg.__version__}, "state_dict": state_dict}, path
    )

    model = SharedMask2Former(
        SWIN_S,
        MASK2FORMER_HEAD_SWIN_S,
        init_cfg=dict(type="Pretrained", checkpoint=path),
    )
    model.init_weights()
    model.eval()
    assert set(model.state_dict()) == set(state_dict)
    for name, value in model.state_dict().items():
        assert torch.equal(value, state_dict[name]), name

    # float64 for the output comparison: the same maths, not the same kernels.
    reference.double(), model.double()
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        feats = reference.extract_feat(x)
        ref_features, _ = reference.decode_head.pixel_decoder(feats)
        _, ref_masks = reference.decode_head(feats, [])
        mask_features, mask_logits = model.forward_masks(x)
        out = model(x)
    assert mask_features.shape == (1, 256, 16, 16)
    torch.testing.assert_close(mask_features, ref_features, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(mask_logits[-1], ref_masks[-1], atol=1e-10, rtol=1e-10)
    expected = ref_features * ref_masks[-1].sigmoid().sum(1, keepdim=True)
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=1e-10)


def test_partial_checkpoint_reports_keys_by_name(tmp_path):
    source = tiny()
    state_dict = source.state_dict()
    dropped = "decode_head.query_feat.weight"
    state_dict.pop(dropped)
    state_dict["decode_head.not_a_layer.weight"] = torch.zeros(1)
    path = str(tmp_path / "partial.pth")
    torch.save({"state_dict": state_dict}, path)

    model = tiny_pretrained(path)
    with log_capture() as messages:
        model.init_weights()
    log = "\n".join(messages)
    missing = re.search(r"missing keys in source state_dict: (.*)", log)
    unexpected = re.search(r"unexpected key in source state_dict: (.*)", log)
    assert missing and missing.group(1).split(", ") == [dropped]
    assert unexpected
    assert unexpected.group(1).split(", ") == ["decode_head.not_a_layer.weight"]
    name = "backbone.patch_embed.projection.weight"
    assert torch.equal(model.state_dict()[name], source.state_dict()[name])


def test_checkpoint_without_matching_keys_is_an_error(tmp_path):
    path = str(tmp_path / "other.pth")
    torch.save({"state_dict": {"head.fc.weight": torch.zeros(2, 2)}}, path)
    model = tiny_pretrained(path)
    num_weights = len(model.state_dict())
    with pytest.raises(CheckpointError) as error:
        model.init_weights()
    message = str(error.value)
    assert message.startswith(f"{path} does not fit SharedMask2Former")
    assert f"0 of the model's {num_weights} weights match" in message
    assert "missing in the checkpoint: backbone.patch_embed.projection.weight" in (
        message
    )
    assert "the checkpoint has e.g. head.fc.weight" in message


def test_checkpoint_with_weights_of_another_shape_is_an_error(tmp_path):
    state_dict = tiny().state_dict()
    name = "decode_head.query_feat.weight"
    shape = tuple(state_dict[name].shape)
    state_dict[name] = torch.zeros(shape[0] + 1, shape[1])
    path = str(tmp_path / "wider.pth")
    torch.save({"state_dict": state_dict}, path)
    torch.manual_seed(1)
    model = tiny_pretrained(path)
    with pytest.raises(CheckpointError) as error:
        model.init_weights()
    message = str(error.value)
    assert message.startswith(f"{path} does not fit SharedMask2Former")
    num_weights = len(state_dict)
    assert f"{num_weights - 1} of the model's {num_weights} weights match" in message
    assert f"of another shape: {name} {(shape[0] + 1, shape[1])} (model: {shape})" in (
        message
    )
    # refused before anything was loaded
    after = model.state_dict()["backbone.patch_embed.projection.weight"]
    assert not torch.equal(after, state_dict["backbone.patch_embed.projection.weight"])


def test_offline_pretrained_url_names_the_url_and_the_cache(monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(mmengine_checkpoint, "load_url", offline)
    model = SharedMask2Former(
        arch="tiny",
        init_cfg=dict(type="Pretrained", checkpoint=MASK2FORMER_SWIN_S_ADE20K_URL),
    )
    with pytest.raises(FileNotFoundError) as error:
        model.init_weights()
    message = str(error.value)
    assert MASK2FORMER_SWIN_S_ADE20K_URL in message
    assert osp.join(torch.hub.get_dir(), "checkpoints") in message


def test_swin_s_preset_is_read_from_mmseg_config():
    name = "mask2former/mask2former_swin-s_8xb2-160k_ade20k-512x512.py"
    assert osp.samefile(mmseg_config_path(name), MMSEG_CONFIG)
    with pytest.raises(FileNotFoundError, match="no_such.py"):
        mmseg_config_path("mask2former/no_such.py")
    # the tiny preset is the same architecture at other sizes
    swin, head = arch_configs("tiny")
    assert swin["type"] == SWIN_S["type"] and swin["embed_dims"] == 16
    assert (
        head["pixel_decoder"]["type"]
        == MASK2FORMER_HEAD_SWIN_S["pixel_decoder"]["type"]
    )
    assert len(head["loss_cls"]["class_weight"]) == head["num_classes"] + 1
    # a caller editing a preset does not change the next one
    swin["depths"].append(9)
    assert arch_configs("tiny")[0]["depths"] == [1, 1, 1, 1]


def test_missing_checkpoint_file_says_where_to_download(tmp_path):
    path = str(tmp_path / "absent.pth")
    model = tiny_pretrained(path)
    with pytest.raises(FileNotFoundError) as error:
        model.init_weights()
    message = str(error.value)
    assert path in message
    assert MASK2FORMER_SWIN_S_ADE20K_URL in message
    assert "init_cfg.checkpoint" in message


def test_bad_arguments_and_inputs_are_rejected():
    with pytest.raises(ValueError, match="mask_act"):
        SharedMask2Former(TINY_SWIN, TINY_MASK2FORMER_HEAD, mask_act="softmax")
    with pytest.raises(ValueError, match="mask_layers"):
        SharedMask2Former(TINY_SWIN, TINY_MASK2FORMER_HEAD, mask_layers="first")
    with pytest.raises(ValueError, match="checkpoint"):
        SharedMask2Former(
            TINY_SWIN, TINY_MASK2FORMER_HEAD, init_cfg=dict(type="Pretrained")
        )
    model = SharedMask2Former(TINY_SWIN, TINY_MASK2FORMER_HEAD)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.randn(1, 4, 64, 64))


def test_sizes_not_divisible_by_32_give_ceil_quarter_resolution():
    model = tiny().eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 70, 90))
    assert out.shape == (1, 32, 18, 23)


def test_arch_preset_equals_the_explicit_configs_and_takes_overrides():
    torch.manual_seed(0)
    explicit = SharedMask2Former(TINY_SWIN, TINY_MASK2FORMER_HEAD)
    torch.manual_seed(0)
    preset = SharedMask2Former(arch="tiny")
    a, b = explicit.state_dict(), preset.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # overrides reach nested fields and leave the rest of the preset alone
    model = SharedMask2Former(
        arch="tiny",
        backbone=dict(with_cp=True),
        decode_head=dict(num_queries=4),
    )
    assert model.backbone.stages[0].blocks[0].with_cp
    assert model.decode_head.num_queries == 4
    assert model.decode_head.pixel_decoder.num_encoder_levels == 3
    with pytest.raises(ValueError, match="arch must be one of"):
        SharedMask2Former(arch="swin-xl")
    with pytest.raises(ValueError, match="without `arch`"):
        SharedMask2Former(backbone=TINY_SWIN)
