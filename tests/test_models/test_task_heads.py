import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmseg.models.losses import CrossEntropyLoss
from mmseg.registry import MODELS

import mtcp  # noqa: F401  (registers the modules)
from mtcp.models.heads import (
    BaseTaskHead,
    BinaryMapHead,
    ClassMapHead,
    DepthHead,
    NormalsHead,
    task_head,
    task_head_type,
)
from mtcp.models.losses import TaskCrossEntropyLoss
from mtcp.structures import TASKS

CONFIG = osp.join(
    osp.dirname(__file__), "..", "..", "configs", "_base_", "models", "mtcp_tiny.py"
)


def head(kind, channels, levels=("aux_8", "final"), **kwargs):
    losses = dict(
        **{"class": dict(type="TaskCrossEntropyLoss")},
        depth=dict(type="DepthL1Loss"),
        normals=dict(type="NormalsL1Loss"),
        binary=dict(type="BalancedBCELoss"),
    )
    return MODELS.build(
        dict(
            type=task_head_type(kind).__name__,
            in_channels=4,
            out_channels=channels,
            levels=list(levels),
            loss_decode=losses[kind],
            **kwargs,
        )
    )


def meta(size, flip=False, direction="horizontal"):
    return dict(
        batch_input_shape=size,
        img_shape=size,
        ori_shape=size,
        flip=flip,
        flip_direction=direction,
    )


def test_every_task_kind_has_its_head():
    expected = dict(
        semseg=ClassMapHead,
        parts=ClassMapHead,
        depth=DepthHead,
        normals=NormalsHead,
        saliency=BinaryMapHead,
        edge=BinaryMapHead,
    )
    for task, cls in expected.items():
        assert task_head_type(TASKS[task].kind) is cls
    assert [NormalsHead.fixed_channels, DepthHead.fixed_channels] == [3, 1]
    assert ClassMapHead.fixed_channels is None
    with pytest.raises(KeyError, match="no task head serves task kind 'edges'"):
        task_head_type("edges")


def test_predict_by_feat_activations_by_hand():
    raw = torch.tensor([[[[1.0, -2.0]], [[3.0, -1.0]]]])  # (1, 2, 1, 2)
    classes = head("class", 2).predict_by_feat(raw, meta((1, 2)))
    assert classes.tolist() == [[[1, 1]]] and classes.dtype == torch.int64
    depth = head("depth", 1).predict_by_feat(raw[:, :1], meta((1, 2)))
    assert depth.tolist() == [[[1.0, 0.0]]]
    prob = head("binary", 1).predict_by_feat(raw[:, :1], meta((1, 2)))
    torch.testing.assert_close(prob, torch.sigmoid(raw[0, :1]))
    vec = torch.tensor([3.0, 0.0, 4.0]).view(1, 3, 1, 1).expand(1, 3, 1, 2)
    normals = head("normals", 3).predict_by_feat(vec, meta((1, 2)))
    torch.testing.assert_close(normals[:, 0, 0], torch.tensor([0.6, 0.0, 0.8]))


def test_predict_by_feat_crops_padding_resizes_and_undoes_flips():
    torch.manual_seed(0)
    raw = torch.randn(1, 3, 4, 6)
    m = dict(batch_input_shape=(4, 6), img_shape=(4, 4), ori_shape=(8, 8))
    out = head("normals", 3).predict_by_feat(raw, m)
    want = F.interpolate(raw[..., :4], size=(8, 8), mode="bilinear")
    torch.testing.assert_close(out, F.normalize(want[0], dim=0))
    # Horizontal flip: mirrored columns, x negated; vertical: rows, y negated.
    plain = head("normals", 3).predict_by_feat(raw, meta((4, 6)))
    hflip = head("normals", 3).predict_by_feat(raw, meta((4, 6), True))
    sign = torch.tensor([-1.0, 1.0, 1.0]).view(3, 1, 1)
    torch.testing.assert_close(hflip, plain.flip(-1) * sign)
    vflip = head("normals", 3).predict_by_feat(raw, meta((4, 6), True, "vertical"))
    torch.testing.assert_close(vflip, plain.flip(-2) * sign[[1, 0, 2]])
    depth = head("depth", 1).predict_by_feat(raw[:, :1], meta((4, 6), True))
    torch.testing.assert_close(depth, raw[0, :1].flip(-1).clamp(min=0))
    with pytest.raises(ValueError, match="cannot undo flip_direction 'diagonal'"):
        head("depth", 1).predict_by_feat(raw[:, :1], meta((4, 6), True, "diagonal"))


def test_depth_of_a_resized_test_image_is_scaled_back():
    """MultiTaskResize divides depth labels by s = sqrt(w_scale * h_scale); a
    prediction on an image resized by s is multiplied by s on the way back."""
    torch.manual_seed(0)
    raw = torch.rand(1, 1, 4, 6) + 1
    m = dict(meta((4, 6)), ori_shape=(2, 3), scale_factor=(2.0, 2.0))
    depth = head("depth", 1).predict_by_feat(raw, m)
    want = F.interpolate(raw, size=(2, 3), mode="bilinear")[0] * 2.0
    torch.testing.assert_close(depth, want)
    m["scale_factor"] = (0.5, 2.0)
    torch.testing.assert_close(head("depth", 1).predict_by_feat(raw, m), want / 2)
    # other kinds keep their values
    probs = head("binary", 1).predict_by_feat(raw, m)
    torch.testing.assert_close(probs, want.div(2).sigmoid())


@pytest.mark.parametrize("with_cp", [False, True])
def test_loss_by_feat_upsamples_every_level(with_cp):
    torch.manual_seed(0)
    h = head("depth", 1, loss_with_cp=with_cp)
    preds = dict(
        aux_8=torch.randn(2, 1, 2, 2, requires_grad=True),
        final=torch.randn(2, 1, 4, 4, requires_grad=True),
    )
    gt = torch.rand(2, 1, 8, 8) + 0.5
    gt[0, 0, :4] = 0  # invalid depth
    losses = h.loss_by_feat(preds, gt, "depth")
    assert set(losses) == {"depth.loss", "depth.aux_8.loss"}
    for key, name in (("depth.loss", "final"), ("depth.aux_8.loss", "aux_8")):
        up = F.interpolate(preds[name], size=(8, 8), mode="bilinear")
        want = ((up - gt).abs() * (gt > 0)).sum() / (gt > 0).sum()
        torch.testing.assert_close(losses[key], want)
    sum(losses.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in preds.values())
    assert h.labelled(gt).sum() == (gt > 0).sum()


def test_labelled_masks_per_kind():
    normals = torch.zeros(1, 3, 2, 2)
    normals[0, 2, 0, 0] = 1.0
    assert head("normals", 3).labelled(normals).tolist() == [
        [[[True, False], [False, False]]]
    ]
    binary = torch.tensor([[[[0, 255], [1, 0]]]])
    assert head("binary", 1).labelled(binary).sum() == 3


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


def test_a_new_kind_is_one_head_class(monkeypatch):
    """docs/model.md's example: a head class declaring its kind is found."""
    monkeypatch.setattr(task_head, "_HEADS_BY_KIND", dict(task_head._HEADS_BY_KIND))

    class ToyEdgeHead(BaseTaskHead):
        kind = "toy_edge"
        fixed_channels = 1

        def activate(self, pred):
            return pred.sigmoid()

    assert task_head_type("toy_edge") is ToyEdgeHead
    h = ToyEdgeHead(4, 1, ["final"], dict(type="BalancedBCELoss"))
    raw = torch.zeros(1, 1, 2, 2)
    assert h.predict_by_feat(raw, meta((2, 2))).tolist() == [[[0.5, 0.5]] * 2]
    assert set(dict(h.named_children())) == {"final", "loss_decode"}
