import time

import numpy as np
import pytest

from mtcp.datasets import SyntheticScenesDataset
from mtcp.datasets.scene_renderer import render_scene


def test_deterministic_per_index_and_seed():
    a = SyntheticScenesDataset("nyud", num_samples=3, img_size=(48, 64), seed=5)
    b = SyntheticScenesDataset("nyud", num_samples=3, img_size=(48, 64), seed=5)
    c = SyntheticScenesDataset("nyud", num_samples=3, img_size=(48, 64), seed=6)
    np.testing.assert_array_equal(a[2]["img"], b[2]["img"])
    np.testing.assert_array_equal(a[2]["gt_depth"], a[2]["gt_depth"])
    assert not np.array_equal(a[0]["img"], a[1]["img"])
    assert not np.array_equal(a[0]["img"], c[0]["img"])
    assert len(a) == 3 and a[0]["img_path"] == "synthetic://nyud/5/0"


def test_nyud_scene_geometry_is_consistent():
    ds = SyntheticScenesDataset(
        "nyud",
        num_samples=4,
        img_size=(48, 64),
        tasks=["semseg", "depth", "normals", "edge"],
    )
    assert ds.metainfo["classes"] == ("wall", "floor", "ceiling", "box", "ball")
    for i in range(len(ds)):
        r = ds[i]
        seg, depth, normals = r["gt_seg_map"], r["gt_depth"], r["gt_normals"]
        assert r["img"].shape == (48, 64, 3) and r["img"].dtype == np.uint8
        assert seg.dtype == np.uint8 and seg.max() <= 4
        assert depth.dtype == np.float32 and 0.5 < depth.min() and depth.max() < 7
        np.testing.assert_allclose(np.linalg.norm(normals, axis=2), 1, atol=1e-5)
        floor = seg == 1
        assert floor.any()
        # a plane has one normal, pointing up (-y in the camera frame) at the camera
        assert np.ptp(normals[floor], axis=0).max() < 1e-5
        assert normals[floor][0, 1] < -0.9
        # the floor is a plane: its depth grows towards the horizon (upwards)
        cols = floor.all(axis=0) if floor.all(axis=0).any() else None
        rows = np.nonzero(floor[:, np.argmax(floor.sum(0))])[0]
        col = np.argmax(floor.sum(0))
        assert (np.diff(depth[rows, col]) < 0).all(), cols
        # every visible surface faces the camera: normal . ray < 0
        v, u = np.mgrid[0:48, 0:64]
        ray = np.stack([u - 32 + 0.5, v - 24 + 0.5, np.full(u.shape, 60.0)], -1)
        assert ((normals * ray).sum(-1) < 0).mean() > 0.99
        assert set(np.unique(r["gt_edge"]).tolist()) == {0, 1}


def test_sphere_normals_vary_and_boxes_are_flat():
    found_ball = False
    for i in range(6):
        scene = render_scene(np.random.default_rng([0, i]), 48, 64, "nyud")
        ball = scene["semseg"] == 4
        if ball.sum() > 20:
            found_ball = True
            assert np.ptp(scene["normals"][ball], axis=0).max() > 0.5
    assert found_ball


def test_pascal_scene_parts_and_saliency():
    ds = SyntheticScenesDataset(
        "pascal",
        num_samples=8,
        img_size=(48, 64),
        seed=0,
        tasks=["semseg", "parts", "saliency", "normals"],
    )
    assert (
        ds.metainfo["part_classes"][0] == "background"
        and len(ds.metainfo["part_palette"]) == 7
    )
    with_person = without = 0
    for i in range(len(ds)):
        r = ds[i]
        seg, parts, sal = r["gt_seg_map"], r["gt_parts"], r["gt_saliency"]
        np.testing.assert_array_equal(sal, seg > 0)  # every object is foreground
        if (parts == 255).all():
            without += 1
            assert not (seg == 3).any()
        else:
            with_person += 1
            np.testing.assert_array_equal(parts > 0, seg == 3)
            assert set(np.unique(parts[seg == 3]).tolist()) <= set(range(1, 7))
    assert with_person and without


def test_render_is_fast():
    rng = np.random.default_rng(0)
    render_scene(rng, 96, 128, "pascal")
    start = time.perf_counter()
    for _ in range(10):
        render_scene(rng, 96, 128, "pascal")
    assert (time.perf_counter() - start) / 10 < 0.1


def test_bad_arguments():
    with pytest.raises(ValueError, match="task_set must be one of"):
        SyntheticScenesDataset("cityscapes")
    with pytest.raises(ValueError, match="task 'depth', which is not available"):
        SyntheticScenesDataset("pascal", tasks=["depth"])
    with pytest.raises(ValueError, match="num_samples must be positive"):
        SyntheticScenesDataset("nyud", num_samples=0)
