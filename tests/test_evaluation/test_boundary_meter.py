"""BoundaryMeter: options, the PNG round trip, BSDS's matcher, two ranks."""

import os
import pickle
import socket

import cv2
import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from scipy import ndimage

from mtcp.evaluation import BoundaryMeter
from mtcp.evaluation.functional import image_counts, seg2bmap, thin


def _pair(seed, height=48, width=64):
    """A Voronoi label map and a blurred, noisy edge probability map."""
    rng = np.random.default_rng(seed)
    seeds = np.ones((height, width), dtype=bool)
    seeds[rng.integers(0, height, 8), rng.integers(0, width, 8)] = False
    _, (iy, ix) = ndimage.distance_transform_edt(seeds, return_indices=True)
    seg = (iy * width + ix).astype(np.int32)
    distance = ndimage.distance_transform_edt(~seg2bmap(seg))
    prob = np.exp(-(distance**2) / 4) * rng.uniform(0.3, 1, (height, width))
    prob = np.clip(prob + 0.05 * rng.random((height, width)), 0, 1)
    return torch.from_numpy(prob.astype(np.float32))[None], torch.from_numpy(seg)[None]


def test_options_are_checked():
    with pytest.raises(ValueError, match="variant"):
        BoundaryMeter(variant="sobel")
    with pytest.raises(ValueError, match="fraction of the diagonal"):
        BoundaryMeter(max_dist=3)
    with pytest.raises(ValueError, match="matcher"):
        BoundaryMeter(matcher="greedy")
    meter = BoundaryMeter(thresholds=4)
    np.testing.assert_allclose(meter.thresholds, [0.2, 0.4, 0.6, 0.8])
    assert meter.state["counts"].shape == (4, 4)
    assert len(BoundaryMeter(variant="nms").thresholds) == 101


def test_bad_predictions_are_named():
    pred, gt = _pair(0)
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        BoundaryMeter().statistics(pred * 4 - 2, gt)
    with pytest.raises(ValueError, match="size"):
        BoundaryMeter().statistics(pred[:, :-1], gt)


def test_in_memory_equals_the_saved_png(tmp_path):
    pred, gt = _pair(1)
    meter = BoundaryMeter(max_dist=0.011, thresholds=9)
    levels = (255 * pred[0].numpy()).astype(np.uint8)
    path = str(tmp_path / "edge.png")
    cv2.imwrite(path, levels)
    saved = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    in_memory = meter.statistics(pred, gt)
    from_png = meter.statistics(saved, gt)
    for key in in_memory:
        np.testing.assert_array_equal(in_memory[key], from_png[key])
    assert in_memory["counts"][:, 0].sum() > 0


def test_workers_give_the_same_statistics():
    pairs = [_pair(seed) for seed in range(3)]
    preds, gts = zip(*pairs)
    serial = BoundaryMeter(max_dist=0.011, thresholds=5).statistics_many(preds, gts)
    parallel = BoundaryMeter(
        max_dist=0.011, thresholds=5, num_workers=2
    ).statistics_many(preds, gts)
    for a, b in zip(serial, parallel):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_bsds_matcher_is_within_a_handful_per_thousand():
    pytest.importorskip("pyEdgeEval._lib", reason="pyEdgeEval not installed")
    thresholds = np.array([0.1, 0.3, 0.5])
    exact_total = bsds_total = 0
    for seed in range(3):
        pred, gt = _pair(seed, 96, 128)
        levels = (255 * pred[0].numpy()).astype(np.uint8)
        exact = image_counts(levels, gt[0].numpy(), thresholds, "png", 0.011, "exact")
        bsds = image_counts(levels, gt[0].numpy(), thresholds, "png", 0.011, "bsds")
        # same pixels; BSDS's matching is never larger than a maximum one
        np.testing.assert_array_equal(exact[:, [1, 3]], bsds[:, [1, 3]])
        assert np.all(bsds[:, [0, 2]] <= exact[:, [0, 2]])
        exact_total += exact[:, 0].sum()
        bsds_total += bsds[:, 0].sum()
    assert exact_total - bsds_total <= 0.005 * exact_total


def test_meter_figures_follow_the_counts():
    meter = BoundaryMeter(max_dist=0.011, thresholds=5)
    for seed in range(2):
        meter.update(*_pair(seed))
    results = meter.compute()
    assert set(results) == {"odsF", "oisF", "AP", "threshold"}
    counts = meter.state["counts"]
    f = 2 * counts[:, 0] / (counts[:, 1] + counts[:, 3])
    assert results["odsF"] == pytest.approx(100 * f.max())
    assert results["oisF"] >= results["odsF"] - 1e-9
    assert 0 < results["AP"] <= 100


def test_ground_truth_boundaries_are_thinned_seg2bmap():
    _, gt = _pair(2)
    counts = BoundaryMeter(thresholds=1).statistics(torch.zeros(1, 48, 64), gt)[
        "counts"
    ]
    assert counts[0, 1] == thin(seg2bmap(gt[0].numpy())).sum()


def _shard_statistics(rank, world_size, port, out_file):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch_dist.init_process_group("gloo", rank=rank, world_size=world_size)
    meter = BoundaryMeter(max_dist=0.011, thresholds=5)
    for seed in range(rank, 5, world_size):
        meter.update(*_pair(seed))
    # the state adds up over ranks: sum it as MultiTaskMetric pools sums
    for key, value in meter.state.items():
        tensor = torch.from_numpy(value)
        torch_dist.all_reduce(tensor)
        meter.state[key] = tensor.numpy()
    if rank == 0:
        with open(out_file, "wb") as f:
            pickle.dump(meter.compute(), f)
    torch_dist.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    meter = BoundaryMeter(max_dist=0.011, thresholds=5)
    for seed in range(5):
        meter.update(*_pair(seed))
    expected = meter.compute()
    out_file = str(tmp_path / "results.pkl")
    mp.start_processes(
        _shard_statistics,
        args=(2, _free_port(), out_file),
        nprocs=2,
        start_method="fork",
    )
    with open(out_file, "rb") as f:
        assert pickle.load(f) == expected
