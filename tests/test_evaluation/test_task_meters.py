"""Each meter against small cases computed by hand."""

import math

import numpy as np
import pytest
import torch

from mtcp.evaluation import (
    DepthMeter,
    NormalsMeter,
    SaliencyMeter,
    SegmentationMeter,
    delta_m,
)

# ---------------------------------------------------------------- segmentation
# K = 4; class 3 is neither labelled nor predicted; one pixel is ignored.
SEG_GT = torch.tensor([[[0, 0, 1], [1, 2, 255]]])
SEG_PRED = torch.tensor([[[0, 1, 1], [1, 2, 0]]])
# IoU: class 0 = 1 / 2, class 1 = 2 / 3, class 2 = 1, class 3 absent
# Acc: class 0 = 1 / 2, class 1 = 1, class 2 = 1; aAcc = 4 / 5


def test_segmentation_absent_class_zero():
    meter = SegmentationMeter(num_classes=4)
    meter.update(SEG_PRED, SEG_GT)
    results = meter.compute()
    assert results["mIoU"] == pytest.approx((0.5 + 2 / 3 + 1 + 0) / 4 * 100)
    assert results["aAcc"] == pytest.approx(80.0)
    assert results["mAcc"] == pytest.approx((0.5 + 1 + 1 + 0) / 4 * 100)
    np.testing.assert_allclose(
        meter.class_results()["IoU"], [50.0, 200 / 3, 100.0, 0.0]
    )


def test_segmentation_absent_class_nan():
    meter = SegmentationMeter(num_classes=4, absent_class="nan")
    meter.update(SEG_PRED, SEG_GT)
    results = meter.compute()
    assert results["mIoU"] == pytest.approx((0.5 + 2 / 3 + 1) / 3 * 100)
    assert results["mAcc"] == pytest.approx(2.5 / 3 * 100)
    assert np.isnan(meter.class_results()["IoU"][3])


def test_segmentation_pools_over_images():
    meter = SegmentationMeter(num_classes=2)
    # image 1: 1 of 2 class-1 pixels right; image 2: 8 class-0 pixels right
    meter.update(torch.tensor([[1, 0]]), torch.tensor([[1, 1]]))
    meter.update(
        torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long)
    )
    # class 0: I = 8, union = 9; class 1: I = 1, union = 2 (pooled, not per image)
    assert meter.compute()["mIoU"] == pytest.approx((8 / 9 + 1 / 2) / 2 * 100)
    assert meter.compute()["aAcc"] == pytest.approx(9 / 10 * 100)
    table = meter.format_table(meter.compute())
    assert "IoU" in table and "88.89" in table


def test_segmentation_all_ignore_image_adds_nothing():
    meter = SegmentationMeter(num_classes=3)
    stats = meter.statistics(torch.ones(1, 2, 2), torch.full((1, 2, 2), 255))
    for value in stats.values():
        assert not value.any()


@pytest.mark.parametrize(
    "pred, gt, message",
    [
        (torch.zeros(1, 2, 3), torch.zeros(1, 3, 2), "original image size"),
        (torch.full((1, 2, 2), 4), torch.zeros(1, 2, 2), "prediction has class"),
        (torch.zeros(1, 2, 2), torch.full((1, 2, 2), 7), "label has values"),
    ],
)
def test_segmentation_rejects_bad_input(pred, gt, message):
    with pytest.raises(ValueError, match=message):
        SegmentationMeter(num_classes=4).update(pred, gt)


# ----------------------------------------------------------------------- depth
def confusion_statistics(pred, gt, num_classes, ignore_index):
    """The meter's former computation: a confusion matrix by bincount."""
    valid = gt != ignore_index
    cells = num_classes * num_classes
    index = torch.where(valid, gt * num_classes + torch.where(valid, pred, 0), cells)
    confusion = torch.bincount(index.flatten(), minlength=cells + 1)[:cells]
    confusion = confusion.reshape(num_classes, num_classes).numpy()
    return dict(
        intersect=np.diagonal(confusion),
        pred_area=confusion.sum(axis=0),
        label_area=confusion.sum(axis=1),
    )


@pytest.mark.parametrize("num_classes", [1, 7, 40])
def test_segmentation_statistics_equal_the_confusion_matrix(num_classes):
    # mmseg's IoUMetric.intersect_and_union against the bincount it replaced
    generator = torch.Generator().manual_seed(num_classes)
    meter = SegmentationMeter(num_classes=num_classes)
    for _ in range(3):
        gt = torch.randint(0, num_classes, (37, 53), generator=generator)
        pred = torch.randint(0, num_classes, (37, 53), generator=generator)
        gt[torch.rand(gt.shape, generator=generator) < 0.2] = 255
        stats = meter.statistics(pred, gt)
        expected = confusion_statistics(pred, gt, num_classes, 255)
        for name, value in expected.items():
            np.testing.assert_array_equal(stats[name], value)
            assert stats[name].dtype == np.int64


def test_depth_pooled_over_valid_pixels():
    meter = DepthMeter()
    # (pred, gt) on valid pixels: (2, 1), (2, 2), (3, 4); gt 0 is invalid
    meter.update(
        torch.tensor([[[2.0, 2.0], [5.0, 3.0]]]),
        torch.tensor([[[1.0, 2.0], [0.0, 4.0]]]),
    )
    # an image without any valid depth adds nothing
    meter.update(torch.full((1, 3, 3), 7.0), torch.zeros(1, 3, 3))
    meter.update(torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    results = meter.compute()
    # 5 valid pixels, squared errors 1 + 0 + 1 + 0 + 0
    assert results["rmse"] == pytest.approx(math.sqrt(2 / 5))
    assert results["abs_rel"] == pytest.approx((1 + 0 + 0.25) / 5)
    log_sq = math.log(2) ** 2 + math.log(3 / 4) ** 2
    assert results["log_rmse"] == pytest.approx(math.sqrt(log_sq / 5))
    # ratios 2, 1, 4/3, 1, 1
    assert results["delta1"] == pytest.approx(3 / 5)
    assert results["delta2"] == pytest.approx(4 / 5)
    assert results["delta3"] == pytest.approx(4 / 5)


def test_depth_cap_and_zero_prediction():
    capped = DepthMeter(max_depth=3.0)
    # gt 4 is beyond the cap; the prediction 5 is clipped to 3
    capped.update(torch.tensor([[1.0, 5.0, 4.0]]), torch.tensor([[1.0, 2.5, 4.0]]))
    assert capped.compute()["rmse"] == pytest.approx(math.sqrt(0.25 / 2))

    meter = DepthMeter()
    meter.update(torch.tensor([[0.0]]), torch.tensor([[2.0]]))
    results = meter.compute()
    assert results["log_rmse"] == pytest.approx(abs(math.log(1e-9) - math.log(2)))
    assert results["rmse"] == pytest.approx(2.0)


def test_depth_empty_set_is_nan_and_bad_input_raises():
    meter = DepthMeter()
    meter.update(torch.ones(1, 2, 2), torch.zeros(1, 2, 2))
    assert math.isnan(meter.compute()["rmse"])
    with pytest.raises(ValueError, match="original image size"):
        meter.update(torch.ones(1, 2, 2), torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        meter.update(torch.tensor([[float("nan")]]), torch.ones(1, 1))


# --------------------------------------------------------------------- normals
def _normals_case():
    """Label +z everywhere but one invalid pixel; angles 0, 20, 45, 90, 180."""
    s, c = math.sin(math.radians(20)), math.cos(math.radians(20))
    gt = torch.tensor([[0, 0, 1]] * 5 + [[0, 0, 0]], dtype=torch.float32)
    pred = torch.tensor(
        [[0, 0, 1], [s, 0, c], [2, 0, 2], [1, 0, 0], [0, 0, -1], [1, 0, 0]],
        dtype=torch.float32,
    )
    return pred.T.reshape(3, 2, 3), gt.T.reshape(3, 2, 3)


def test_normals_hand_computed():
    meter = NormalsMeter()
    pred, gt = _normals_case()
    np.testing.assert_allclose(
        meter.angles(pred, gt).numpy(), [0, 20, 45, 90, 180], atol=1e-4
    )
    meter.update(pred, gt)
    results = meter.compute()
    assert results["mean"] == pytest.approx(335 / 5, abs=1e-4)
    assert results["rmse"] == pytest.approx(
        math.sqrt((400 + 2025 + 8100 + 32400) / 5), abs=1e-4
    )
    assert results["median"] == pytest.approx(45, rel=1e-4)
    assert results["11.25"] == pytest.approx(20.0)
    assert results["22.5"] == pytest.approx(40.0)
    assert results["30"] == pytest.approx(40.0)


def test_normals_exactly_opposite_and_zero_prediction():
    meter = NormalsMeter()
    gt = torch.tensor([0.6, 0.0, 0.8]).reshape(3, 1, 1)
    assert meter.angles(-gt, gt).item() == 180.0
    # a zero prediction has no direction: it scores 90 degrees
    assert meter.angles(torch.zeros(3, 1, 1), gt).item() == pytest.approx(90.0)
    meter.update(-gt, gt)
    assert meter.compute()["median"] == pytest.approx(180.0, rel=1e-4)


def test_normals_match_arccos_and_median_within_tolerance():
    generator = torch.Generator().manual_seed(0)
    meter = NormalsMeter()
    angles = []
    for _ in range(3):
        gt = torch.randn(3, 40, 50, generator=generator)
        pred = gt + 0.7 * torch.randn(3, 40, 50, generator=generator)
        p = (pred / pred.norm(dim=0)).double().numpy()
        g = (gt / gt.norm(dim=0)).double().numpy()
        reference = np.degrees(np.arccos(np.clip((p * g).sum(0), -1, 1))).ravel()
        np.testing.assert_allclose(meter.angles(pred, gt).numpy(), reference, atol=1e-3)
        meter.update(pred, gt)
        angles.append(reference)
    angles = np.concatenate(angles)
    results = meter.compute()
    assert results["median"] == pytest.approx(np.median(angles), rel=1e-4)
    assert results["mean"] == pytest.approx(angles.mean(), abs=1e-4)
    assert results["22.5"] == pytest.approx((angles < 22.5).mean() * 100, abs=0.1)


@pytest.mark.parametrize("noise", [1.0, 0.3, 3e-4, 1e-5])
@pytest.mark.parametrize(
    "shapes",
    [[(1, 1)], [(1, 2)], [(3, 5)], [(61, 83)], [(4, 7), (5, 5), (1, 1)]],
)
def test_normals_median_within_1e4_relative_of_numpy(noise, shapes):
    """Any spread (noise 1e-5: a median near 5e-4 degree, 3e-4: near 0.02
    degree), one pixel, an even count, one small image or several."""
    generator = torch.Generator().manual_seed(len(shapes))
    meter = NormalsMeter()
    angles = []
    for h, w in shapes:
        gt = torch.randn(3, h, w, generator=generator, dtype=torch.float64)
        pred = gt + noise * torch.randn(3, h, w, generator=generator, dtype=gt.dtype)
        meter.update(pred, gt)
        angles.append(meter.angles(pred, gt).numpy())
    exact = np.median(np.concatenate(angles))
    assert meter.compute()["median"] == pytest.approx(exact, rel=1e-4, abs=0)


def test_normals_median_of_float32_near_perfect_predictions():
    generator = torch.Generator().manual_seed(0)
    gt = torch.nn.functional.normalize(
        torch.randn(3, 48, 64, generator=generator), dim=0
    )
    pred = gt + 2e-4 * torch.randn(3, 48, 64, generator=generator)
    pred[:, :10] = gt[:, :10]  # some pixels exactly right: angle 0
    meter = NormalsMeter()
    meter.update(pred, gt)
    exact = np.median(meter.angles(pred, gt).numpy())
    assert 0.005 < exact < 0.05
    assert meter.compute()["median"] == pytest.approx(exact, rel=1e-4, abs=0)
    # a perfect prediction: median 0 (to within the first bin, 1e-6 degree)
    meter.reset()
    meter.update(gt, gt)
    assert meter.compute()["median"] == pytest.approx(0.0, abs=1e-6)


def test_normals_state_does_not_grow_with_pixels():
    meter = NormalsMeter()
    small = meter.statistics(torch.ones(3, 1, 1), torch.ones(3, 1, 1))
    large = meter.statistics(torch.randn(3, 200, 300), torch.randn(3, 200, 300))
    assert {k: v.shape for k, v in small.items()} == {
        k: v.shape for k, v in large.items()
    }
    assert sum(v.nbytes for v in large.values()) < 2.5e6


# -------------------------------------------------------------------- saliency
def test_saliency_hand_computed():
    meter = SaliencyMeter()
    gt = torch.tensor([[1, 1, 0, 0, 255]])
    pred = torch.tensor([[0.9, 0.4, 0.6, 0.1, 0.99]])
    meter.update(pred, gt)
    f = meter.f_measures()
    # t <= 0.1: P = 1/2, R = 1; 0.1 < t <= 0.4: P = 2/3, R = 1;
    # 0.4 < t <= 0.6: P = R = 1/2; 0.6 < t < 0.9: P = 1, R = 1/2
    assert f[0] == pytest.approx(1.3 * 0.5 / (0.15 + 1))
    assert f[3] == pytest.approx(1.3 * (2 / 3) / (0.2 + 1))
    assert f[9] == pytest.approx(1.3 * 0.25 / (0.15 + 0.5))
    results = meter.compute()
    assert results["maxF"] == pytest.approx(1.3 * 0.5 / 0.8 * 100)
    assert results["threshold"] == pytest.approx(0.65)


def test_saliency_image_without_positive_pixel():
    meter = SaliencyMeter()
    meter.update(torch.tensor([[0.9]]), torch.tensor([[1]]))
    # no salient pixel: its predicted positives are false positives
    meter.update(torch.tensor([[0.8, 0.3]]), torch.tensor([[0, 0]]))
    f = meter.f_measures()
    assert f[0] == pytest.approx(1.3 / 3 / (0.1 + 1))
    assert f[9] == pytest.approx(1.3 * 0.5 / (0.15 + 1))
    assert meter.compute() == pytest.approx(dict(maxF=100.0, threshold=0.85))


def test_saliency_set_without_positive_pixel_scores_zero():
    meter = SaliencyMeter()
    meter.update(torch.tensor([[0.7, 0.2]]), torch.tensor([[0, 0]]))
    assert meter.compute() == dict(maxF=0.0, threshold=0.05)


def test_saliency_matches_threshold_loop_and_rejects_logits():
    generator = torch.Generator().manual_seed(1)
    meter = SaliencyMeter()
    preds = [torch.rand(30, 20, generator=generator) for _ in range(3)]
    gts = [(torch.rand(30, 20, generator=generator) > 0.6).long() for _ in range(3)]
    for pred, gt in zip(preds, gts):
        meter.update(pred, gt)
    p, g = torch.stack(preds).numpy(), torch.stack(gts).numpy()
    reference = []
    for t in np.arange(1, 20) / 20:
        tp = ((p >= t) & (g == 1)).sum()
        precision, recall = tp / (p >= t).sum(), tp / (g == 1).sum()
        reference.append(1.3 * precision * recall / (0.3 * precision + recall))
    np.testing.assert_allclose(meter.f_measures(), reference)
    with pytest.raises(ValueError, match="probabilities"):
        meter.update(torch.tensor([[3.0]]), torch.tensor([[1]]))


# --------------------------------------------------------------------- delta_m
def test_delta_m_reference_numbers():
    # MT-CP against the single-task models on NYUD-v2 (DATA_AND_METRICS.md)
    results = {"semseg/mIoU": 56.25, "depth/rmse": 0.4316, "normals/mean": 18.60}
    baselines = dict(semseg=53.20, depth=0.4923, normals=19.22)
    expected = (
        ((56.25 - 53.20) / 53.20 - (0.4316 - 0.4923) / 0.4923 - (18.60 - 19.22) / 19.22)
        / 3
        * 100
    )
    assert delta_m(results, baselines) == pytest.approx(expected)
    assert expected == pytest.approx(7.096, abs=1e-3)
    with pytest.raises(KeyError, match="Delta_m needs 'edge/odsF'"):
        delta_m(results, dict(edge=1.0))
    with pytest.raises(KeyError, match="parts/mIoU"):
        delta_m(results, dict(parts=60.0))
