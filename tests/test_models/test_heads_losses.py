import math

import pytest
import torch
import torch.nn as nn

from mtcp.models.heads import DensePredictionHead
from mtcp.models.losses import (
    BalancedBCELoss,
    DepthL1Loss,
    NormalsL1Loss,
    TaskCrossEntropyLoss,
)


def test_head_shapes_and_structure():
    head = DensePredictionHead(8, 5, channels=4)
    x = torch.randn(2, 8, 7, 9, requires_grad=True)
    out = head(x)
    assert out.shape == (2, 5, 7, 9)
    assert head.conv.conv.kernel_size == (3, 3) and head.cls.kernel_size == (1, 1)
    out.sum().backward()
    assert all(p.grad is not None for p in head.parameters())
    with pytest.raises(ValueError, match=r"\(B, 8, H, W\)"):
        head(torch.randn(1, 3, 4, 4))


def test_cross_entropy_hand_computed():
    # Two classes, 2x2 map; the pixel labelled 255 is ignored.
    logits = torch.tensor([[[[0.0, 1.0], [2.0, 0.0]], [[0.0, 0.0], [0.0, 3.0]]]])
    target = torch.tensor([[[[0, 1], [255, 1]]]])
    expected = (math.log(2) + math.log(1 + math.e) + math.log(1 + math.exp(-3))) / 3
    loss = TaskCrossEntropyLoss(loss_weight=2.0)(logits, target)
    assert loss.item() == pytest.approx(2 * expected, rel=1e-6)


def test_depth_l1_hand_computed():
    pred = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)
    gt = torch.tensor([0.0, 1.0, 5.0, 4.0]).view(1, 1, 2, 2)
    # Valid: the last three pixels: |2-1| + |3-5| + |4-4| = 3 over 3.
    assert DepthL1Loss()(pred, gt).item() == pytest.approx(1.0)


def test_normals_l1_hand_computed():
    pred = torch.zeros(1, 3, 1, 2)
    pred[0, :, 0, 0] = torch.tensor([2.0, 0.0, 0.0])  # normalised to (1, 0, 0)
    pred[0, :, 0, 1] = torch.tensor([5.0, 5.0, 5.0])
    gt = torch.zeros(1, 3, 1, 2)
    gt[0, :, 0, 0] = torch.tensor([0.0, 1.0, 0.0])  # second pixel invalid (0-vector)
    # |1 - 0| + |0 - 1| + 0 = 2 over the 3 components of one valid pixel.
    assert NormalsL1Loss()(pred, gt).item() == pytest.approx(2 / 3)
    # A prediction that is a scaled gt costs nothing.
    assert NormalsL1Loss()(3 * gt, gt).item() == pytest.approx(0.0, abs=1e-7)


def test_balanced_bce_hand_computed():
    logits = torch.zeros(1, 1, 2, 2)  # every pixel costs log 2
    target = torch.tensor([[[[1, 0], [0, 255]]]])
    # Auto weight: 2 negatives of 3 valid pixels: w = 2/3 for the positive,
    # 1 - w = 1/3 for each negative, averaged over the 3 valid pixels.
    auto = BalancedBCELoss()(logits, target)
    assert auto.item() == pytest.approx((2 / 3 + 2 / 3) * math.log(2) / 3)
    edge = BalancedBCELoss(pos_weight=0.95)(logits, target)
    assert edge.item() == pytest.approx((0.95 + 2 * 0.05) * math.log(2) / 3)
    # Non-zero logits: positive pixel 2.0, negative pixel -1.0, negative 0.5.
    logits = torch.tensor([[[[2.0, -1.0], [0.5, 9.0]]]])
    bce = [
        math.log(1 + math.exp(-2.0)),
        math.log(1 + math.exp(-1.0)),
        math.log(1 + math.exp(0.5)),
    ]
    expected = (2 / 3 * bce[0] + 1 / 3 * (bce[1] + bce[2])) / 3
    assert BalancedBCELoss()(logits, target).item() == pytest.approx(expected)


@pytest.mark.parametrize(
    "loss_fn, channels, target",
    [
        (TaskCrossEntropyLoss(), 4, torch.full((2, 1, 3, 3), 255)),
        (DepthL1Loss(), 1, torch.zeros(2, 1, 3, 3)),
        (NormalsL1Loss(), 3, torch.zeros(2, 3, 3, 3)),
        (BalancedBCELoss(), 1, torch.full((2, 1, 3, 3), 255)),
        (BalancedBCELoss(pos_weight=0.95), 1, torch.full((2, 1, 3, 3), 255)),
    ],
)
def test_no_valid_pixel_gives_zero_loss_and_gradient(loss_fn, channels, target):
    pred = torch.randn(2, channels, 3, 3, requires_grad=True)
    loss = loss_fn(pred, target)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(pred.grad).all() and (pred.grad == 0).all()


def test_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in batch size or spatial size"):
        DepthL1Loss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match="expects a target with 3 channel"):
        NormalsL1Loss()(torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match="pos_weight must be in"):
        BalancedBCELoss(pos_weight=1.5)


def test_head_bias_init_sets_the_starting_prediction():
    head = DensePredictionHead(8, 1, bias_init=2.5)
    nn.init.zeros_(head.cls.weight)
    out = head(torch.randn(2, 8, 5, 6))
    assert torch.allclose(out, torch.full_like(out, 2.5))
