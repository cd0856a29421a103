"""Boundary precision / recall counts of one image and the ODS, OIS and AP
figures of a set, as SEISM computes them for the multi-task literature.

Per image and threshold (SEISM ``src/piotr_edges/edgesEvalImg.m``,
``src/measures/eval_cont.m``): the prediction is binarised, both it and the
ground-truth boundary ``seg2bmap(gt)`` are thinned to one pixel
(``bwmorph(.., 'thin', Inf)``), their pixels are matched one-to-one within
``max_dist`` times the image diagonal, and four counts are kept: ``cntR``
matched ground-truth pixels, ``sumR`` ground-truth pixels, ``cntP`` matched
predicted pixels, ``sumP`` predicted pixels. Over a set (SEISM
``src/scripts/gather_measure.m``, ``general_ods.m``, ``general_ois.m``,
``general_ap.m``): ODS sums the counts per threshold over all images and
takes the best F; OIS sums the counts of every image at its own best
threshold and takes one F; AP integrates the set's precision-recall curve.

Two variants differ in how the prediction is read (both from the uint8 PNG
``v`` the writers save, ``v = (255 p).astype(uint8)`` in MTI-Net, ASTMT and
InvPT):

- ``'png'``, MTI-Net's ``read_one_png`` (Multi-Task-Learning-PyTorch,
  ``evaluation/seism/read_one_png.m``): ``v / 255 >= t`` for the 99
  thresholds 0.01, ..., 0.99 (``eval_edge.py`` writes them as ``'%.2f'``).
- ``'nms'``, SEISM's ``read_one_cont_png`` used by ASTMT and InvPT
  (``src/io/read_one_cont_png.m``): Dollar's edge NMS on ``single(v) / 255``
  (see :mod:`.edge_nms`), then ``> t`` for the 101 HED thresholds
  0.001, 0.01, ..., 0.99, 0.999 (SEISM ``parameters/HED.txt``); MATLAB
  compares the single map with the threshold in single precision.
"""

from typing import Dict, Iterator, Sequence, Union

import numpy as np

from .boundary_matching import BSDSMatcher, ExactMatcher, tolerance
from .boundary_morphology import seg2bmap, thin
from .edge_nms import edge_nms

VARIANTS = ("png", "nms")
MATCHERS = ("exact", "bsds")


def protocol_thresholds(variant: str) -> np.ndarray:
    """The thresholds each variant's literature uses (float64, as MATLAB
    parses the decimal strings)."""
    check_variant(variant)
    steps = np.arange(1, 100) / 100
    if variant == "png":
        return steps
    return np.concatenate([[0.001], steps, [0.999]])


def resolve_thresholds(
    variant: str, thresholds: Union[None, int, Sequence[float]] = None
) -> np.ndarray:
    """Thresholds to evaluate: the variant's protocol list (None), ``n``
    evenly spaced ones ``k / (n + 1)``, k = 1..n (an int, BSDS's
    ``edgesEvalImg`` rule; e.g. 9 gives 0.1, ..., 0.9, a cheaper setting),
    or an increasing sequence in (0, 1)."""
    if thresholds is None:
        return protocol_thresholds(variant)
    if isinstance(thresholds, (int, np.integer)) and not isinstance(thresholds, bool):
        if thresholds < 1:
            raise ValueError(f"thresholds must be >= 1 when an int, got {thresholds}")
        return np.arange(1, thresholds + 1) / (thresholds + 1)
    values = np.asarray(thresholds, dtype=np.float64)
    if values.ndim != 1 or not len(values):
        raise ValueError(f"thresholds must be a non-empty list, got {thresholds!r}")
    if np.any(values <= 0) or np.any(values >= 1) or np.any(np.diff(values) <= 0):
        raise ValueError(
            f"thresholds must increase strictly within (0, 1), got {thresholds!r}"
        )
    return values


def check_variant(variant: str) -> None:
    """Fail unless ``variant`` is one of :data:`VARIANTS`."""
    if variant not in VARIANTS:
        raise ValueError(f"boundary variant must be one of {VARIANTS}, got {variant!r}")


def quantize_probabilities(prob: np.ndarray) -> np.ndarray:
    """The uint8 PNG levels the field's writers save for probabilities:
    ``(255 * p).astype(np.uint8)`` in single precision, i.e. truncation
    (MTI-Net / InvPT ``utils.get_output`` and ``save_model_predictions``).
    A uint8 input is taken as PNG levels already.

    Args:
        prob (np.ndarray): (H, W) probabilities in [0, 1] or uint8 levels.

    Returns:
        np.ndarray: (H, W) uint8 levels.
    """
    prob = np.asarray(prob)
    if prob.dtype == np.uint8:
        return prob
    if not np.issubdtype(prob.dtype, np.floating):
        raise ValueError(
            f"edge prediction must be float probabilities or uint8 PNG levels, got {prob.dtype}"
        )
    if prob.size and not (prob.min() >= 0 and prob.max() <= 1):
        raise ValueError(
            "edge prediction must be probabilities in [0, 1], found values in "
            f"[{prob.min()}, {prob.max()}] (pass sigmoid outputs, not logits)"
        )
    return (np.float32(255) * prob.astype(np.float32)).astype(np.uint8)


def binary_maps(
    levels: np.ndarray, variant: str, thresholds: np.ndarray
) -> Iterator[np.ndarray]:
    """Yield the binarised prediction of each threshold.

    Args:
        levels (np.ndarray): (H, W) uint8 PNG levels.
        variant (str): ``'png'`` or ``'nms'``.
        thresholds (np.ndarray): Thresholds in (0, 1).
    """
    check_variant(variant)
    if variant == "png":
        # v / 255 >= t in double precision: the smallest passing level per t
        ratios = np.arange(256) / 255.0
        for t in thresholds:
            yield levels >= int(np.argmax(ratios >= t))
    else:
        suppressed = edge_nms(levels.astype(np.float32) / np.float32(255))
        for t in thresholds:
            yield suppressed > np.float32(t)


def image_counts(
    levels: np.ndarray,
    gt: np.ndarray,
    thresholds: np.ndarray,
    variant: str = "png",
    max_dist: float = 0.0075,
    matcher: str = "exact",
) -> np.ndarray:
    """Counts of one image at every threshold.

    Args:
        levels (np.ndarray): (H, W) uint8 PNG levels of the prediction.
        gt (np.ndarray): (H, W) label map whose ``seg2bmap`` boundaries are
            the ground truth (a binary edge map, or a segmentation).
        thresholds (np.ndarray): K thresholds.
        variant (str): ``'png'`` or ``'nms'``. Defaults to ``'png'``.
        max_dist (float): Tolerance as a fraction of the image diagonal.
            Defaults to 0.0075.
        matcher (str): ``'exact'`` or ``'bsds'``. Defaults to ``'exact'``.

    Returns:
        np.ndarray: (K, 4) int64 counts ``cntR, sumR, cntP, sumP``.
    """
    if levels.shape != gt.shape:
        raise ValueError(
            f"edge prediction {levels.shape} and label {gt.shape} differ in size"
        )
    if matcher not in MATCHERS:
        raise ValueError(f"matcher must be one of {MATCHERS}, got {matcher!r}")
    gt_map = thin(seg2bmap(gt))
    pred_maps = [thin(m) for m in binary_maps(levels, variant, thresholds)]
    radius = tolerance(max_dist, gt.shape)
    if matcher == "exact":
        matched = ExactMatcher(gt.shape, radius).match_sizes(
            [np.flatnonzero(m) for m in pred_maps], np.flatnonzero(gt_map)
        )
        matched = np.array([[n, n] for n in matched], dtype=np.int64).reshape(-1, 2)
    else:
        matched = BSDSMatcher(max_dist).match_counts(pred_maps, gt_map)
    counts = np.zeros((len(thresholds), 4), dtype=np.int64)
    counts[:, 0] = matched[:, 0]
    counts[:, 1] = int(gt_map.sum())
    counts[:, 2] = matched[:, 1]
    counts[:, 3] = [int(m.sum()) for m in pred_maps]
    return counts


def precision_recall(counts: np.ndarray) -> np.ndarray:
    """(P, R) per row of ``cntR, sumR, cntP, sumP`` counts, with SEISM's
    conventions (``gather_measure.m``): no predicted pixel gives P = 1,
    R = 0; otherwise no ground-truth pixel gives P = 0, R = 1; F is 0
    either way."""
    counts = np.atleast_2d(counts).astype(np.float64)
    cnt_r, sum_r, cnt_p, sum_p = counts.T
    precision = np.divide(cnt_p, sum_p, out=np.ones_like(sum_p), where=sum_p > 0)
    recall = np.divide(cnt_r, sum_r, out=np.zeros_like(sum_r), where=sum_r > 0)
    no_gt = (sum_r == 0) & (sum_p > 0)
    precision[no_gt], recall[no_gt] = 0.0, 1.0
    return np.stack([precision, recall], axis=1)


def f_measure(counts: np.ndarray) -> np.ndarray:
    """F = 2 P R / (P + R) per row of counts (0 where P + R = 0)."""
    precision, recall = precision_recall(counts).T
    total = precision + recall
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 2 * precision * recall / total, 0.0)


def best_threshold(counts: np.ndarray) -> int:
    """An image's OIS threshold index: the first best F, with F rounded to
    six decimals as SEISM writes the per-image results (``'%f'``) before
    ``general_ois.m`` reads them back."""
    rounded = [float(f"{f:f}") for f in f_measure(counts)]
    return int(np.argmax(rounded))


def average_precision(counts: np.ndarray) -> float:
    """SEISM's ``general_ap.m``: the set's precision interpolated linearly
    in recall at 0, 0.01, ..., 1 within the recall range, summed, / 100.
    Repeated recalls keep the first threshold's precision (MATLAB's
    ``unique``, first occurrence since R2013a)."""
    precision, recall = precision_recall(counts).T
    recall, first = np.unique(recall, return_index=True)
    if len(recall) < 2:
        return 0.0
    # MATLAB's 0:.01:1, up to the last bit
    grid = np.arange(101) / 100
    inside = (grid >= recall[0]) & (grid <= recall[-1])
    return float(np.interp(grid[inside], recall, precision[first]).sum() / 100)


def summarize(
    counts: np.ndarray, ois_counts: np.ndarray, thresholds: np.ndarray
) -> Dict[str, float]:
    """ODS F, OIS F and AP (percent) and the ODS threshold of a set.

    Args:
        counts (np.ndarray): (K, 4) counts summed over the images.
        ois_counts (np.ndarray): (4,) counts summed over the images, each
            at its own best threshold.
        thresholds (np.ndarray): The K thresholds.
    """
    f = f_measure(counts)
    best = int(np.argmax(f))
    return dict(
        odsF=float(f[best] * 100),
        oisF=float(f_measure(ois_counts)[0] * 100),
        AP=average_precision(counts) * 100,
        threshold=float(thresholds[best]),
    )
