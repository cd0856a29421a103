"""The task head: mmseg's decode-head contract for one task."""

import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.models.losses import CrossEntropyLoss
from mmseg.registry import MODELS

import mtcp  # noqa: F401  (registers the modules)
from mtcp.models.losses import TaskCrossEntropyLoss
from mtcp.structures import MultiTaskDataSample

CONFIG = osp.join(
    osp.dirname(__file__), "..", "..", "configs", "_base_", "models", "mtcp_tiny.py"
)


def head(task, levels=("aux_8", "final"), **kwargs):
    return MODELS.build(
        dict(type="TaskHead", task=task, in_channels=4, levels=list(levels), **kwargs)
    )


def meta(size, flip=False, direction="horizontal"):
    return dict(
        batch_input_shape=size,
        img_shape=size,
        ori_shape=size,
        flip=flip,
        flip_direction=direction,
    )


def samples(task, labels):
    out = []
    for label in labels:
        sample = MultiTaskDataSample()
        sample.set_gt(task, PixelData(data=label))
        out.append(sample)
    return out


def test_head_knows_its_task_and_channels():
    assert head("semseg", num_classes=5).out_channels == 5
    assert head("normals").out_channels == 3
    assert head("depth").out_channels == 1
    with pytest.raises(ValueError, match="give their number"):
        head("semseg")
    with pytest.raises(KeyError, match="Unknown task 'edges'"):
        head("edges")
    # the default loss comes from the task's kind, a config overrides it
    assert type(head("edge").loss_decode).__name__ == "BalancedBCELoss"
    assert head("edge").loss_decode.pos_weight == 0.95
    custom = head("edge", loss_decode=dict(type="BalancedBCELoss"))
    assert custom.loss_decode.pos_weight is None


@pytest.mark.parametrize("with_cp", [False, True])
def test_loss_stacks_labels_and_upsamples_every_level(with_cp):
    torch.manual_seed(0)
    h = head("depth", loss_with_cp=with_cp)
    feats = [torch.randn(2, 4, 2, 2), torch.randn(2, 4, 4, 4)]
    gt = torch.rand(2, 1, 8, 8) + 0.5
    gt[0, 0, :4] = 0  # invalid depth
    losses = h.loss(feats, samples("depth", gt))
    assert set(losses) == {"depth.loss", "depth.aux_8.loss"}
    assert bool(losses.labelled["depth"])
    preds = h.forward(feats)
    for key, name in (("depth.loss", "final"), ("depth.aux_8.loss", "aux_8")):
        up = F.interpolate(preds[name], size=(8, 8), mode="bilinear")
        want = ((up - gt).abs() * (gt > 0)).sum() / (gt > 0).sum()
        torch.testing.assert_close(losses[key], want)
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in h.parameters())


def test_loss_of_an_unlabelled_batch_is_an_attached_zero():
    h = head("saliency", levels=("final",))
    gt = torch.full((1, 1, 4, 4), 255)
    losses = h.loss([torch.randn(1, 4, 4, 4)], samples("saliency", gt))
    assert not bool(losses.labelled["saliency"])
    assert losses["saliency.loss"].item() == 0 and losses["saliency.loss"].requires_grad


def test_loss_names_a_sample_without_the_label():
    h = head("depth", levels=("final",))
    batch = samples("depth", [torch.ones(1, 4, 4)]) + [MultiTaskDataSample()]
    with pytest.raises(ValueError, match="data sample 1 has no gt_depth"):
        h.loss([torch.randn(2, 4, 4, 4)], batch)


def test_predict_restores_each_image_and_activates():
    torch.manual_seed(0)
    h = head("semseg", num_classes=3)
    feats = [torch.randn(2, 4, 2, 2), torch.randn(2, 4, 4, 6)]
    metas = [
        dict(batch_input_shape=(4, 6), img_shape=(4, 4), ori_shape=(8, 8)),
        meta((4, 6), flip=True),
    ]
    preds = h.predict(feats, metas)
    raw = h.final(feats[1])
    want0 = F.interpolate(raw[:1, :, :, :4], size=(8, 8), mode="bilinear")[0]
    torch.testing.assert_close(preds[0]["sem_seg_logits"], want0)
    assert torch.equal(preds[0]["pred_sem_seg"], want0.argmax(0, keepdim=True))
    torch.testing.assert_close(preds[1]["sem_seg_logits"], raw[1].flip(-1))
    assert set(preds[1]) == {"sem_seg_logits", "pred_sem_seg"}


def test_task_cross_entropy_equals_mmseg_avg_non_ignore_float64():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 6, 7, dtype=torch.float64)
    target = torch.randint(0, 5, (2, 1, 6, 7))
    target[0, 0, :3] = 255
    ours = TaskCrossEntropyLoss(loss_weight=0.5)(logits, target)
    theirs = CrossEntropyLoss(loss_weight=0.5, avg_non_ignore=True)(
        logits, target[:, 0], ignore_index=255
    )
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    # The exact mean over the labelled pixels, up to mmseg's eps in the count.
    per_pixel = F.cross_entropy(
        logits, target[:, 0], ignore_index=255, reduction="none"
    )
    valid = target[:, 0] != 255
    exact = 0.5 * per_pixel[valid].mean()
    torch.testing.assert_close(ours, exact, rtol=1e-8, atol=0)


def test_state_dict_keys_are_those_of_pre_redesign_checkpoints():
    """Heads keep ``heads.<task>.<level>.{conv,cls}`` and losses hold no state,
    so a checkpoint written before the task heads existed loads strictly."""
    torch.manual_seed(0)
    cfg = Config.fromfile(CONFIG)
    cfg.model.tasks = ["semseg", "depth", "normals", "edge"]
    model = MODELS.build(cfg.model)
    keys = {k for k in model.state_dict() if k.startswith("heads.")}
    conv = ["conv.conv.weight", "conv.bn.weight", "conv.bn.bias"]
    conv += ["conv.bn.running_mean", "conv.bn.running_var"]
    conv += ["conv.bn.num_batches_tracked", "cls.weight", "cls.bias"]
    old = {
        f"heads.{t}.{level}.{p}"
        for t in cfg.model.tasks
        for level in model.head_names
        for p in conv
    }
    assert keys == old
    assert not any("loss" in k for k in model.state_dict())
    model.load_state_dict(model.state_dict(), strict=True)
