"""Boundaries: ODS F, OIS F and AP of the BSDS benchmark, as SEISM computes
them for the multi-task literature (see
:mod:`mtcp.evaluation.functional.boundary` for the protocol and its
sources)."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from mtcp.evaluation.functional.boundary import (
    MATCHERS,
    best_threshold,
    check_variant,
    image_counts,
    quantize_probabilities,
    resolve_thresholds,
    summarize,
)

from .base_meter import ArrayLike, BaseMeter, Statistics, single_channel_pair


class BoundaryMeter(BaseMeter):
    """Boundary ODS F, OIS F and AP pooled over a set of images.

    Each image is reduced to the four counts ``cntR, sumR, cntP, sumP`` at
    every threshold (:func:`~mtcp.evaluation.functional.boundary.image_counts`)
    and to the same four counts at its own best threshold; both add up
    over images and ranks, so the figures of a distributed evaluation are
    those of one process, and the state is a (K, 4) and a (4,) integer
    array whatever the number of images.

    Args:
        variant (str): ``'png'`` (MTI-Net's ``read_one_png``: ``v / 255 >=
            t``, thresholds 0.01..0.99) or ``'nms'`` (SEISM's
            ``read_one_cont_png`` of ASTMT and InvPT: edge NMS, then ``>
            t``, the 101 HED thresholds). Defaults to ``'png'``.
        max_dist (float): Matching tolerance as a fraction of the image
            diagonal; the literature uses 0.011 for NYUD-v2 and 0.0075
            (SEISM's default) for PASCAL-Context. Defaults to 0.0075.
        thresholds (int | Sequence[float], optional): None for the
            variant's protocol thresholds; an int n for n evenly spaced
            ones ``k / (n + 1)`` (a cheaper setting for validation); or a
            list. Defaults to None.
        matcher (str): ``'exact'`` (a maximum matching, no dependency) or
            ``'bsds'`` (BSDS's ``correspondPixels`` from the optional
            ``pyEdgeEval`` package, approximate and much slower). Defaults
            to ``'exact'``.
        num_workers (int): Processes for :meth:`statistics_many`; 0 or 1
            evaluates in this process. Defaults to 0.
        ignore_index (int): Label value of unlabelled pixels; an image
            labelled nowhere adds nothing. Defaults to 255.
        task (str): Task name used in messages. Defaults to ``'edge'``.
    """

    def __init__(
        self,
        variant: str = "png",
        max_dist: float = 0.0075,
        thresholds: Union[None, int, Sequence[float]] = None,
        matcher: str = "exact",
        num_workers: int = 0,
        ignore_index: int = 255,
        task: str = "edge",
    ) -> None:
        check_variant(variant)
        if not 0 < max_dist < 1:
            raise ValueError(
                f"{task}: max_dist is a fraction of the diagonal, got {max_dist}"
            )
        if matcher not in MATCHERS:
            raise ValueError(
                f"{task}: matcher must be one of {MATCHERS}, got {matcher!r}"
            )
        if num_workers < 0:
            raise ValueError(f"{task}: num_workers must be >= 0, got {num_workers}")
        self.variant = variant
        self.max_dist = float(max_dist)
        self.thresholds = resolve_thresholds(variant, thresholds)
        self.matcher = matcher
        self.num_workers = num_workers
        self.ignore_index = ignore_index
        self.task = task
        super().__init__()

    def empty_state(self) -> Statistics:
        return dict(
            counts=np.zeros((len(self.thresholds), 4), dtype=np.int64),
            ois_counts=np.zeros(4, dtype=np.int64),
        )

    def statistics(self, pred: ArrayLike, gt: ArrayLike) -> Statistics:
        """Counts of one image.

        Args:
            pred (Tensor | np.ndarray): (1, H, W) or (H, W) edge
                probabilities in [0, 1], quantised as the writers save them
                (:func:`~mtcp.evaluation.functional.boundary.quantize_probabilities`),
                or uint8 PNG levels.
            gt (Tensor | np.ndarray): (1, H, W) or (H, W) label map whose
                boundaries (SEISM's ``seg2bmap``) are the ground truth: the
                binary edge map of NYUD-v2, the PASCAL-Context label map.

        Returns:
            dict: ``counts`` (K, 4) and ``ois_counts`` (4,), int64.
        """
        pred, gt = single_channel_pair(pred, gt, self.task)
        return _image_statistics(
            pred.cpu().numpy(), gt.cpu().numpy(), self._options(), self.task
        )

    def statistics_many(
        self, preds: Sequence[ArrayLike], gts: Sequence[ArrayLike]
    ) -> List[Statistics]:
        """:meth:`statistics` of several images, over ``num_workers``
        processes when it is above 1 (results in input order)."""
        if len(preds) != len(gts):
            raise ValueError(
                f"{self.task}: {len(preds)} predictions but {len(gts)} labels"
            )
        pairs = []
        for pred, gt in zip(preds, gts):
            pred, gt = single_channel_pair(pred, gt, self.task)
            pairs.append((pred.cpu().numpy(), gt.cpu().numpy()))
        options = self._options()
        if self.num_workers <= 1 or len(pairs) <= 1:
            return [_image_statistics(p, g, options, self.task) for p, g in pairs]
        methods = multiprocessing.get_all_start_methods()
        # fork shares the imported modules; spawn where fork is unavailable
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(self.num_workers, mp_context=context) as pool:
            return list(
                pool.map(
                    _image_statistics,
                    [p for p, _ in pairs],
                    [g for _, g in pairs],
                    [options] * len(pairs),
                    [self.task] * len(pairs),
                    chunksize=max(1, len(pairs) // (4 * self.num_workers)),
                )
            )

    def _options(self) -> Dict[str, object]:
        return dict(
            thresholds=self.thresholds,
            variant=self.variant,
            max_dist=self.max_dist,
            matcher=self.matcher,
            ignore_index=self.ignore_index,
        )

    def compute(self) -> Dict[str, float]:
        """Return ``odsF``, ``oisF``, ``AP`` (percent) and the ODS
        ``threshold``."""
        return summarize(
            self.state["counts"], self.state["ois_counts"], self.thresholds
        )


def _image_statistics(
    pred: np.ndarray,
    gt: np.ndarray,
    options: Dict[str, object],
    task: Optional[str] = "edge",
) -> Statistics:
    """Per-threshold counts and best-threshold counts of one image.

    An image whose label is all ``ignore_index`` (no label: partially
    labelled data) adds nothing; a partly unlabelled boundary label has no
    meaning in the protocol and is refused."""
    options = dict(options)
    ignore_index = options.pop("ignore_index")
    ignored = gt == ignore_index
    if ignored.all():
        return dict(
            counts=np.zeros((len(options["thresholds"]), 4), dtype=np.int64),
            ois_counts=np.zeros(4, dtype=np.int64),
        )
    if ignored.any():
        raise ValueError(
            f"{task} label has {int(ignored.sum())} unlabelled pixels "
            f"({ignore_index}); the boundary protocol scores whole images "
            "(test pipelines keep labels unpadded)"
        )
    if not np.issubdtype(gt.dtype, np.integer) and gt.dtype != np.bool_:
        if not np.array_equal(gt, np.round(gt)):
            raise ValueError(
                f"{task} label must be a label map of whole numbers (edge map "
                f"0/1 or segmentation), got non-integer values of {gt.dtype}"
            )
    try:
        levels = quantize_probabilities(pred)
    except ValueError as error:
        raise ValueError(f"{task}: {error}") from error
    counts = image_counts(levels, gt, **options)
    return dict(counts=counts, ois_counts=counts[best_threshold(counts)].copy())
