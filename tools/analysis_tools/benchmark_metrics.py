"""Time each task meter against a straightforward numpy implementation.

Prints the seconds per 100 NYUD-size (480 x 640) images for every meter of
``mtcp.evaluation`` next to a plain numpy version that computes the same
figures the obvious way (one mask per class or threshold, every angle kept
for the median), and checks that both give the same figures.

Example::

    python tools/analysis_tools/benchmark_metrics.py --num-images 100
"""

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch
from prettytable import PrettyTable

from mtcp.evaluation import (
    BaseMeter,
    DepthMeter,
    NormalsMeter,
    SaliencyMeter,
    SegmentationMeter,
)
from mtcp.tasks import task_kind

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_batch import random_label  # noqa: E402

NUM_CLASSES = 40
POOL = 4


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=100)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def make_images(task: str, size: Tuple[int, int], seed: int) -> List[tuple]:
    """A few random (prediction, label) pairs, reused to keep memory low; a
    tenth of the label pixels carries no label."""
    generator = torch.Generator().manual_seed(seed)
    head = task_kind(task)
    pairs = []
    for _ in range(POOL):
        gt = random_label(task, NUM_CLASSES, size, generator, invalid_fraction=0.1)
        pred = head.random_prediction(NUM_CLASSES, size, generator)
        pairs.append((pred, gt))
    return pairs


def numpy_segmentation(pairs) -> Dict[str, float]:
    tp = np.zeros(NUM_CLASSES)
    fp = np.zeros(NUM_CLASSES)
    fn = np.zeros(NUM_CLASSES)
    for pred, gt in pairs:
        pred, gt = pred.numpy()[0], gt.numpy()[0]
        valid = gt != 255
        for c in range(NUM_CLASSES):
            tp[c] += np.sum((pred == c) & (gt == c) & valid)
            fp[c] += np.sum((pred == c) & (gt != c) & valid)
            fn[c] += np.sum((pred != c) & (gt == c) & valid)
    union = tp + fp + fn
    iou = np.where(union > 0, tp / np.maximum(union, 1), 0)
    return dict(mIoU=float(np.mean(iou) * 100))


def numpy_depth(pairs) -> Dict[str, float]:
    sums = dict(rmse=0.0, abs_rel=0.0, log_rmse=0.0, delta1=0, delta2=0, delta3=0)
    count = 0
    for pred, gt in pairs:
        pred, gt = pred.numpy()[0].astype(np.float64), gt.numpy()[0]
        valid = gt > 0
        pred, gt = np.maximum(pred[valid], 1e-9), gt[valid]
        sums["rmse"] += np.sum((pred - gt) ** 2)
        sums["abs_rel"] += np.sum(np.abs(pred - gt) / gt)
        sums["log_rmse"] += np.sum((np.log(pred) - np.log(gt)) ** 2)
        ratio = np.maximum(pred / gt, gt / pred)
        for k in (1, 2, 3):
            sums[f"delta{k}"] += np.sum(ratio < 1.25**k)
        count += valid.sum()
    results = {key: value / count for key, value in sums.items()}
    results["rmse"] = np.sqrt(results["rmse"])
    results["log_rmse"] = np.sqrt(results["log_rmse"])
    return {key: float(value) for key, value in results.items()}


def numpy_normals(pairs) -> Dict[str, float]:
    angles = []
    for pred, gt in pairs:
        pred, gt = pred.numpy().astype(np.float64), gt.numpy().astype(np.float64)
        valid = np.linalg.norm(gt, axis=0) > 0
        p = pred[:, valid] / np.linalg.norm(pred[:, valid], axis=0)
        g = gt[:, valid] / np.linalg.norm(gt[:, valid], axis=0)
        angles.append(np.degrees(np.arccos(np.clip(np.sum(p * g, axis=0), -1, 1))))
    angles = np.concatenate(angles)
    results = dict(
        mean=angles.mean(),
        median=np.median(angles),
        rmse=np.sqrt(np.mean(angles**2)),
    )
    for threshold in (11.25, 22.5, 30):
        results[f"{threshold:g}"] = np.mean(angles < threshold) * 100
    return {key: float(value) for key, value in results.items()}


def numpy_saliency(pairs) -> Dict[str, float]:
    thresholds = np.arange(1, 20) / 20
    tp = np.zeros(len(thresholds))
    predicted = np.zeros(len(thresholds))
    actual = 0
    for pred, gt in pairs:
        pred, gt = pred.numpy()[0], gt.numpy()[0]
        valid = gt != 255
        for i, t in enumerate(thresholds):
            positive = (pred >= t) & valid
            tp[i] += np.sum(positive & (gt == 1))
            predicted[i] += np.sum(positive)
        actual += np.sum((gt == 1) & valid)
    precision, recall = tp / predicted, tp / actual
    f = 1.3 * precision * recall / (0.3 * precision + recall)
    return dict(maxF=float(np.max(f) * 100))


def stream(pairs: List[tuple], num_images: int):
    return (pairs[i % len(pairs)] for i in range(num_images))


def time_meter(meter: BaseMeter, pairs, num_images: int) -> Tuple[float, dict]:
    start = time.perf_counter()
    for pred, gt in stream(pairs, num_images):
        meter.update(pred, gt)
    results = meter.compute()
    return time.perf_counter() - start, results


def time_reference(fn: Callable, pairs, num_images: int) -> Tuple[float, dict]:
    start = time.perf_counter()
    results = fn(stream(pairs, num_images))
    return time.perf_counter() - start, results


def main() -> None:
    args = parse_args()
    size = (args.height, args.width)
    cases = [
        ("semseg", SegmentationMeter(NUM_CLASSES), numpy_segmentation),
        ("depth", DepthMeter(), numpy_depth),
        ("normals", NormalsMeter(), numpy_normals),
        ("saliency", SaliencyMeter(), numpy_saliency),
    ]
    per_100 = 100 / args.num_images
    table = PrettyTable(
        ["meter", "mtcp s/100 img", "numpy s/100 img", "speed-up", "figures agree"]
    )
    for task, meter, reference in cases:
        pairs = make_images(task, size, args.seed)
        ours, ours_results = time_meter(meter, pairs, args.num_images)
        theirs, their_results = time_reference(reference, pairs, args.num_images)
        agree = all(
            np.isclose(ours_results[key], value, rtol=1e-6, atol=0.05)
            for key, value in their_results.items()
        )
        table.add_row(
            [
                type(meter).__name__,
                f"{ours * per_100:.2f}",
                f"{theirs * per_100:.2f}",
                f"{theirs / ours:.1f}x",
                agree,
            ]
        )
    print(
        f"{args.num_images} images of {args.height} x {args.width}, "
        f"{torch.get_num_threads()} torch threads"
    )
    print(table)


if __name__ == "__main__":
    main()
