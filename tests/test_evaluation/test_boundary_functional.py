"""The boundary protocol's parts against hand-checked cases and references."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from mtcp.evaluation.functional import (
    ExactMatcher,
    edge_nms,
    image_counts,
    protocol_thresholds,
    resolve_thresholds,
    seg2bmap,
    summarize,
    thin,
)
from mtcp.evaluation.functional.boundary import (
    average_precision,
    best_threshold,
    f_measure,
)
from mtcp.evaluation.functional.boundary_matching import disc_offsets, tolerance


def test_seg2bmap_hand_case():
    seg = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]])
    # a pixel is marked when its E, S or SE neighbour differs (outside = 0);
    # the last row compares E only, the last column S only, the corner never
    expected = np.array(
        [[False, True, False], [True, True, True], [False, False, False]]
    )
    np.testing.assert_array_equal(seg2bmap(seg), expected)


def test_seg2bmap_of_a_binary_edge_marks_both_sides():
    edge = np.zeros((5, 6), dtype=np.uint8)
    edge[2, :] = 1
    rows = np.flatnonzero(seg2bmap(edge).any(axis=1))
    np.testing.assert_array_equal(rows, [1, 2])


def test_thin_keeps_lines_and_thins_blocks_to_one_pixel():
    line = np.zeros((7, 9), dtype=bool)
    line[3, 1:8] = True
    np.testing.assert_array_equal(thin(line), line)
    block = np.zeros((9, 9), dtype=bool)
    block[2:7, 2:7] = True
    # a square thins to its centre
    expected = np.zeros_like(block)
    expected[4, 4] = True
    np.testing.assert_array_equal(thin(block), expected)
    band = np.zeros((20, 30), dtype=bool)
    band[2:18, 13:16] = True
    thinned = thin(band)
    assert thinned.any() and not (thinned & ~band).any()
    assert np.all(np.flatnonzero(thinned.any(axis=0)) == [14])


def test_thin_matches_scikit_image():
    skimage = pytest.importorskip(
        "skimage.morphology", reason="scikit-image not installed"
    )
    rng = np.random.default_rng(0)
    for i in range(60):
        mask = rng.random(rng.integers(2, 40, 2)) < rng.random()
        if i % 2:
            mask = ndimage.binary_dilation(mask, iterations=2)
        np.testing.assert_array_equal(thin(mask), skimage.thin(mask))


def _brute_force_matching(pred, gt, radius):
    """Maximum matching size by an assignment on a 0/1 cost matrix."""
    py, px = np.nonzero(pred)
    gy, gx = np.nonzero(gt)
    if not len(py) or not len(gy):
        return 0
    d2 = (py[:, None] - gy[None]) ** 2 + (px[:, None] - gx[None]) ** 2
    cost = (d2 > radius**2).astype(np.float64)
    r, c = linear_sum_assignment(cost)
    return int((cost[r, c] == 0).sum())


def test_exact_matcher_equals_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(40):
        shape = tuple(rng.integers(5, 25, 2))
        radius = float(rng.uniform(0.5, 4))
        gt = rng.random(shape) < rng.uniform(0.02, 0.4)
        preds = [rng.random(shape) < rng.uniform(0.02, 0.4) for _ in range(3)]
        sizes = ExactMatcher(shape, radius).match_sizes(
            [np.flatnonzero(p) for p in preds], np.flatnonzero(gt)
        )
        assert sizes == [_brute_force_matching(p, gt, radius) for p in preds]


def test_disc_offsets_are_inclusive():
    offsets = {tuple(o) for o in disc_offsets(2.0)}
    assert (2, 0) in offsets and (1, 1) in offsets and (2, 1) not in offsets
    assert tolerance(0.5, (6, 8)) == pytest.approx(5.0)


def _vertical_boundary(height=20, width=30, column=14):
    """A label map whose seg2bmap boundary is `column`, and that boundary."""
    seg = np.zeros((height, width), dtype=np.uint8)
    seg[:, column + 1 :] = 1
    line = np.zeros((height, width), dtype=np.uint8)
    line[:, column] = 255
    return seg, line


# 20 x 30: diagonal 36.06; max_dist 0.05 gives a radius of 1.80 pixels
MAX_DIST = 0.05


@pytest.mark.parametrize("variant", ["png", "nms"])
def test_perfect_prediction_scores_one(variant):
    seg, line = _vertical_boundary()
    counts = image_counts(line, seg, resolve_thresholds(variant, 9), variant, MAX_DIST)
    if variant == "nms":
        # edge NMS scales pixels within 5 of the border: rows 0 and 19 vanish
        # and rows 1..4, 15..18 weaken, leaving the middle rows at high t
        assert counts[0, 3] == 18 and counts[-1, 3] == 10
    else:
        np.testing.assert_array_equal(counts, [[20, 20, 20, 20]] * 9)
    if variant == "png":
        results = summarize(
            counts, counts[best_threshold(counts)], resolve_thresholds(variant, 9)
        )
        assert results["odsF"] == 100.0 and results["oisF"] == 100.0
        # SEISM's AP needs two distinct recalls; one recall value gives 0
        assert results["AP"] == 0.0


@pytest.mark.parametrize("shift, matched", [(1, 20), (2, 0)])
def test_shift_within_and_beyond_the_tolerance(shift, matched):
    seg, line = _vertical_boundary()
    pred = np.roll(line, shift, axis=1)
    counts = image_counts(pred, seg, np.array([0.5]), "png", MAX_DIST)
    np.testing.assert_array_equal(counts, [[matched, 20, matched, 20]])


def test_thick_prediction_is_thinned_before_matching():
    seg, _ = _vertical_boundary()
    pred = np.zeros(seg.shape, dtype=np.uint8)
    pred[:, 13:16] = 255
    counts = image_counts(pred, seg, np.array([0.5]), "png", MAX_DIST)
    # the 3 x 20 band thins to column 14, rows 1..18: 18 predicted pixels,
    # all matched (precision 1, not the 20 / 60 of the unthinned band), and
    # 18 of the 20 ground-truth pixels matched one-to-one
    np.testing.assert_array_equal(counts, [[18, 20, 18, 18]])


def test_empty_prediction_and_empty_ground_truth():
    seg, line = _vertical_boundary()
    empty_pred = np.zeros_like(line)
    counts = image_counts(empty_pred, seg, np.array([0.2, 0.5]), "png", MAX_DIST)
    np.testing.assert_array_equal(counts, [[0, 20, 0, 0]] * 2)
    # no predicted pixel: P = 1, R = 0, F = 0
    np.testing.assert_array_equal(f_measure(counts), [0.0, 0.0])
    flat = np.zeros_like(seg)
    counts = image_counts(line, flat, np.array([0.2, 0.5]), "png", MAX_DIST)
    np.testing.assert_array_equal(counts, [[0, 0, 0, 20]] * 2)
    # no ground truth: F = 0 everywhere, so the image's OIS threshold is the
    # first one, whose predicted pixels count against the set's precision
    assert best_threshold(counts) == 0


def test_ods_ois_ap_by_hand():
    # two images, three thresholds: cntR, sumR, cntP, sumP
    image_a = np.array([[8, 10, 8, 16], [6, 10, 6, 8], [2, 10, 2, 2]])
    image_b = np.array([[4, 10, 4, 5], [3, 10, 3, 3], [0, 10, 0, 0]])
    # per image F: a = 16/26, 12/18, 4/12 (best t2); b = 8/15, 6/13, 0 (best t1)
    assert best_threshold(image_a) == 1 and best_threshold(image_b) == 0
    counts = image_a + image_b
    ois = image_a[1] + image_b[0]
    results = summarize(counts, ois, np.array([0.25, 0.5, 0.75]))
    # ODS: F = 2c / (sumR + sumP) = 24/41, 18/31, 4/22 -> t1
    assert results["odsF"] == pytest.approx(100 * 24 / 41)
    assert results["threshold"] == 0.25
    # OIS: (10, 20, 10, 13) -> 20/33
    assert results["oisF"] == pytest.approx(100 * 20 / 33)
    # AP: (R, P) = (0.1, 1), (0.45, 9/11), (0.6, 4/7); linear between them at
    # R = 0.10..0.60: 36 points summing to 360/11 and 15 more summing to 793/77
    assert results["AP"] == pytest.approx(3313 / 77)
    assert average_precision(counts) == pytest.approx(3313 / 7700)


def test_protocol_thresholds():
    png = protocol_thresholds("png")
    assert len(png) == 99 and png[0] == 0.01 and png[-1] == 0.99 and png[6] == 0.07
    nms = protocol_thresholds("nms")
    assert len(nms) == 101 and nms[0] == 0.001 and nms[-1] == 0.999
    np.testing.assert_allclose(resolve_thresholds("png", 9), np.arange(1, 10) / 10)
    with pytest.raises(ValueError, match="within"):
        resolve_thresholds("png", [0.5, 0.2])


def test_png_threshold_is_inclusive():
    seg, line = _vertical_boundary()
    pred = (line // 255 * 51).astype(np.uint8)  # 51 / 255 = 0.2 exactly
    counts = image_counts(pred, seg, np.array([0.2, 0.21]), "png", MAX_DIST)
    np.testing.assert_array_equal(counts[:, 3], [20, 0])


def test_edge_nms_keeps_the_ridge():
    columns = np.arange(30, dtype=np.float32)[None, :]
    ridge = (np.exp(-((columns - 15) ** 2) / 4) * np.ones((21, 1))).astype(np.float32)
    out = edge_nms(ridge)
    assert set(np.flatnonzero(out.any(axis=0))) == {15}
    # away from the border the ridge keeps its value; within 5 of it the
    # value is scaled by the distance / 5 (row 2: 2 / 5)
    assert out[10, 15] == ridge[10, 15]
    assert out[2, 15] == pytest.approx(ridge[2, 15] * 0.4, rel=1e-6)
    assert out[0, 15] == 0 and out[20, 15] == 0


def test_edge_nms_core_matches_pyedgeeval():
    lib = pytest.importorskip("pyEdgeEval._lib", reason="pyEdgeEval not installed")
    from mtcp.evaluation.functional.edge_nms import edge_orientation, suppress

    rng = np.random.default_rng(3)
    image = np.zeros((60, 80))
    image[rng.integers(0, 60, 30), rng.integers(0, 80, 30)] = 1
    image = ndimage.gaussian_filter(image, 2)
    levels = (np.float32(255) * (image / image.max()).astype(np.float32)).astype(
        np.uint8
    )
    edge = levels.astype(np.float32) / np.float32(255)
    orientation = edge_orientation(edge)
    ours = suppress(edge, orientation)
    theirs = lib.nms(
        edge.astype(np.float64), orientation.astype(np.float64), 1, 5, 1.01
    )
    # single against double precision: agree but for near-ties
    assert np.mean((ours > 0) != (theirs > 0)) < 1e-3
