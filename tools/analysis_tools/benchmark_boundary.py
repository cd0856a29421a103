"""Time the boundary evaluator (odsF / oisF / AP) on a fixed synthetic set.

Generates N seeded prediction / ground-truth pairs at 480 x 640 (the NYUD-v2
test size): the ground truth is the boundary map of a random Voronoi
partition, the prediction a blurred copy with missed stretches, weaker extra
edges and a smooth background response, saved-PNG style (uint8). It then
evaluates them with :class:`mtcp.evaluation.BoundaryMeter` and prints the
wall time, images per second and the figures. Generation is not timed.

Example::

    python tools/analysis_tools/benchmark_boundary.py --num-images 654 --workers 1
    python tools/analysis_tools/benchmark_boundary.py --num-images 654 --workers 16
    # the exact matcher against BSDS's (needs pyEdgeEval) on the same set
    python tools/analysis_tools/benchmark_boundary.py --num-images 20 --matcher both
"""

import argparse
import sys
import time

import numpy as np
from scipy import ndimage

from mtcp.evaluation import BoundaryMeter

CHUNK = 50  # images per progress line


def voronoi(rng, shape, cells):
    seeds = np.ones(shape, dtype=bool)
    seeds[rng.integers(0, shape[0], cells), rng.integers(0, shape[1], cells)] = False
    _, (iy, ix) = ndimage.distance_transform_edt(seeds, return_indices=True)
    return iy * shape[1] + ix


def boundaries(labels):
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1] |= labels[:-1] != labels[1:]
    return edge


def make_pair(seed, shape=(480, 640)):
    """(uint8 prediction levels, uint8 0/1 ground-truth edge map)."""
    rng = np.random.default_rng(seed)
    gt = boundaries(voronoi(rng, shape, 40))
    distance = ndimage.distance_transform_edt(~gt)
    prob = np.exp(-(distance**2) / (2 * rng.uniform(1.5, 3) ** 2))
    missed = ndimage.gaussian_filter(rng.random(shape), 20)
    prob *= missed > np.quantile(missed, 0.15)
    extra = ndimage.gaussian_filter(boundaries(voronoi(rng, shape, 10)) * 1.0, 2)
    background = ndimage.gaussian_filter(rng.random(shape), 4)
    background = 0.04 * (background - background.min()) / np.ptp(background)
    prob = np.clip(ndimage.gaussian_filter(prob + extra, 1) + background, 0, 1)
    return (np.float32(255) * prob.astype(np.float32)).astype(np.uint8), gt.astype(
        np.uint8
    )


def evaluate(preds, gts, args, matcher):
    meter = BoundaryMeter(
        variant=args.variant,
        max_dist=args.max_dist,
        thresholds=args.thresholds,
        matcher=matcher,
        num_workers=args.workers,
    )
    # in chunks, so that a long run shows its progress
    chunk = max(CHUNK, 4 * args.workers)
    start = time.perf_counter()
    for first in range(0, len(preds), chunk):
        last = first + chunk
        for stats in meter.statistics_many(preds[first:last], gts[first:last]):
            meter.accumulate(stats)
        done = min(last, len(preds))
        elapsed = time.perf_counter() - start
        print(f"  {done}/{len(preds)} images, {elapsed:.0f} s", file=sys.stderr)
    seconds = time.perf_counter() - start
    results = meter.compute()
    print(
        f"matcher={matcher} variant={args.variant} max_dist={args.max_dist} "
        f"thresholds={len(meter.thresholds)} workers={args.workers}: "
        f"{len(preds)} images in {seconds:.1f} s ({len(preds) / seconds:.2f} images/s)"
    )
    print("  " + ", ".join(f"{k}={v:.4f}" for k, v in results.items()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=654)
    parser.add_argument("--workers", type=int, default=1, help="processes over images")
    parser.add_argument("--variant", choices=["png", "nms"], default="png")
    parser.add_argument("--max-dist", type=float, default=0.011, help="NYUD-v2: 0.011")
    parser.add_argument(
        "--thresholds",
        type=int,
        default=None,
        help="n evenly spaced (default: protocol)",
    )
    parser.add_argument("--matcher", choices=["exact", "bsds", "both"], default="exact")
    args = parser.parse_args()
    preds, gts = zip(*(make_pair(seed) for seed in range(args.num_images)))
    for matcher in ["exact", "bsds"] if args.matcher == "both" else [args.matcher]:
        evaluate(preds, gts, args, matcher)


if __name__ == "__main__":
    main()
