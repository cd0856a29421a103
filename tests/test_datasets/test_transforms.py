import numpy as np
import pytest
import torch
from mmengine.dataset import Compose, pseudo_collate
from torch.utils.data import DataLoader

from mtcp.datasets import (
    KeepLabelsAtOriginal,
    MultiTaskPad,
    MultiTaskRandomCrop,
    MultiTaskRandomFlip,
    MultiTaskRandomResize,
    MultiTaskResize,
    PackMultiTaskInputs,
    SyntheticScenesDataset,
)
from mtcp.structures import TASKS

ALL_TASKS = list(TASKS)


def block_results(seed=0, shape=(48, 64)):
    """An image of irregular constant blocks; every label is a function of
    the block, so after any geometric transform a pixel whose colour is a
    block's colour must carry exactly that block's labels."""
    rng = np.random.default_rng(seed)
    h, w = shape
    rows = np.searchsorted(
        np.sort(rng.choice(np.arange(3, h - 3), 5, replace=False)),
        np.arange(h),
        side="right",
    )
    cols = np.searchsorted(
        np.sort(rng.choice(np.arange(3, w - 3), 6, replace=False)),
        np.arange(w),
        side="right",
    )
    block = rows[:, None] * 7 + cols[None, :]
    n = 42
    colours = np.stack(
        [
            (np.arange(n) * 37 + 11) % 251 + 1,
            (np.arange(n) * 91 + 5) % 251 + 1,
            np.arange(n) * 5 + 30,
        ],
        1,
    ).astype(np.uint8)
    vec = rng.normal(size=(n, 3))
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    results = dict(
        img=colours[block],
        img_shape=shape,
        ori_shape=shape,
        img_path="blocks.png",
        tasks=ALL_TASKS,
        gt_seg_map=(block % 40).astype(np.uint8),
        gt_parts=(block % 7).astype(np.uint8),
        gt_saliency=(block % 2).astype(np.uint8),
        gt_edge=(block // 2 % 2).astype(np.uint8),
        gt_depth=(1 + 0.1 * block).astype(np.float32),
        gt_normals=vec[block].astype(np.float32),
    )
    results["seg_fields"] = [TASKS[task].results_key for task in ALL_TASKS]
    return results, colours, vec


def check_alignment(results, colours, vec, min_checked=0.4):
    img = results["img"]
    h, w = results["img_shape"]
    valid = np.zeros(img.shape[:2], bool)
    valid[:h, :w] = True
    key = img.astype(np.int64) @ np.array([65536, 256, 1])
    lookup = dict(
        zip(
            (colours.astype(np.int64) @ np.array([65536, 256, 1])).tolist(),
            range(len(colours)),
        )
    )
    block = np.vectorize(lambda k: lookup.get(k, -1))(key)
    checked = valid & (block >= 0)
    assert checked.sum() >= min_checked * valid.sum()
    b = block[checked]
    np.testing.assert_array_equal(results["gt_seg_map"][checked], b % 40)
    np.testing.assert_array_equal(results["gt_parts"][checked], b % 7)
    np.testing.assert_array_equal(results["gt_saliency"][checked], b % 2)
    np.testing.assert_array_equal(results["gt_edge"][checked], b // 2 % 2)
    scale = np.sqrt(np.prod(results.get("scale_factor", (1.0, 1.0))))
    np.testing.assert_allclose(
        results["gt_depth"][checked] * scale, 1 + 0.1 * b, rtol=1e-5
    )
    expected = vec[b].copy()
    if results.get("flip", False):
        expected[:, 0] *= -1
    np.testing.assert_allclose(results["gt_normals"][checked], expected, atol=1e-5)
    for name in ALL_TASKS:
        assert results[TASKS[name].results_key].shape[:2] == img.shape[:2]
    return checked


@pytest.mark.parametrize(
    "transform",
    [
        MultiTaskResize(scale=(96, 72)),
        MultiTaskResize(scale=(40, 30), keep_ratio=False),
        MultiTaskRandomResize(scale=(64, 48), ratio_range=(0.5, 2.0)),
        MultiTaskRandomCrop(crop_size=(32, 40), cat_max_ratio=0.75),
        MultiTaskRandomFlip(prob=1.0),
        MultiTaskPad(size=(56, 72)),
    ],
    ids=["resize-up", "resize-down-no-ratio", "random-resize", "crop", "flip", "pad"],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_geometric_transforms_keep_labels_aligned(transform, seed):
    np.random.seed(seed)
    results, colours, vec = block_results(seed)
    out = transform(results)
    check_alignment(out, colours, vec)


def test_full_chain_alignment():
    np.random.seed(3)
    results, colours, vec = block_results(3)
    chain = Compose(
        [
            MultiTaskRandomResize(scale=(64, 48), ratio_range=(0.5, 2.0)),
            MultiTaskRandomCrop(crop_size=(40, 48)),
            MultiTaskRandomFlip(prob=1.0),
            MultiTaskPad(size=(40, 48)),
        ]
    )
    check_alignment(chain(results), colours, vec, min_checked=0.2)


def test_resize_values():
    results, _, _ = block_results()
    out = MultiTaskResize(scale=(128, 96))(results)  # exactly 2x
    assert out["img"].shape == (96, 128, 3) and out["img_shape"] == (96, 128)
    assert out["scale_factor"] == (2.0, 2.0)
    src, _, _ = block_results()
    np.testing.assert_allclose(out["gt_depth"][::2, ::2], src["gt_depth"] / 2)
    np.testing.assert_array_equal(out["gt_seg_map"][1::2, 1::2], src["gt_seg_map"])
    results, _, _ = block_results()
    results["gt_normals"][0, 0] = 0  # invalid stays invalid through renormalisation
    out = MultiTaskResize(scale=(40, 30), keep_ratio=False)(results)
    norms = np.linalg.norm(out["gt_normals"], axis=2)
    assert out["gt_normals"].dtype == np.float32 and out["gt_depth"].dtype == np.float32
    np.testing.assert_allclose(norms[norms > 0], 1, atol=1e-5)
    assert norms[0, 0] == 0


def test_flip_negates_normal_x():
    results, _, _ = block_results()
    src = {k: v.copy() for k, v in results.items() if k.startswith("gt_")}
    out = MultiTaskRandomFlip(prob=1.0)(results)
    assert out["flip"] and out["flip_direction"] == "horizontal"
    np.testing.assert_array_equal(
        out["gt_normals"][:, ::-1, 0], -src["gt_normals"][..., 0]
    )
    np.testing.assert_array_equal(
        out["gt_normals"][:, ::-1, 1:], src["gt_normals"][..., 1:]
    )
    np.testing.assert_array_equal(out["gt_depth"][:, ::-1], src["gt_depth"])
    out = MultiTaskRandomFlip(prob=1.0, direction="vertical")(block_results()[0])
    np.testing.assert_array_equal(
        out["gt_normals"][::-1, :, 1], -src["gt_normals"][..., 1]
    )
    out = MultiTaskRandomFlip(prob=0.0)(block_results()[0])
    assert not out["flip"]
    np.testing.assert_array_equal(out["gt_normals"], src["gt_normals"])


def test_keep_labels_at_original_leaves_them_out_of_flip_and_resize():
    results, _, _ = block_results()
    src = {k: v.copy() for k, v in results.items() if k.startswith("gt_")}
    image = results["img"].copy()
    out = Compose(
        [
            KeepLabelsAtOriginal(),
            MultiTaskRandomFlip(prob=1.0),
            MultiTaskResize(scale=(32, 24), keep_ratio=False),
        ]
    )(results)
    assert out["flip"] and out["img"].shape[:2] == (24, 32)
    assert out["img"][0, -1].tolist() == image[0, 0].tolist()
    for key, label in src.items():
        np.testing.assert_array_equal(out[key], label)


def test_pad_values_and_shapes():
    out = MultiTaskPad(size=(50, 70))(block_results()[0])
    assert out["img_shape"] == (48, 64) and out["pad_shape"] == (50, 70, 3)
    assert (out["img"][48:] == 0).all() and (out["img"][:, 64:] == 0).all()
    for name in ["semseg", "parts", "saliency", "edge"]:
        label = out[TASKS[name].results_key]
        assert (label[48:] == 255).all() and (label[:, 64:] == 255).all()
    assert (out["gt_depth"][48:] == 0).all() and (out["gt_normals"][:, 64:] == 0).all()
    with pytest.raises(
        ValueError, match="blocks.png: image of size \\(48, 64\\) is larger"
    ):
        MultiTaskPad(size=(40, 70))(block_results()[0])


def test_crop_cat_max_ratio_needs_semseg():
    results = block_results()[0]
    del results["gt_seg_map"]
    results["tasks"] = ["depth"]
    with pytest.raises(KeyError, match="cat_max_ratio=0.75\\) needs the semseg"):
        MultiTaskRandomCrop(crop_size=(8, 8), cat_max_ratio=0.75)(results)


def test_missing_label_map_is_an_error_when_packing():
    results = block_results()[0]
    del results["gt_depth"]
    # a test pipeline resizes the image before loading labels: maps present move
    out = MultiTaskResize(scale=(128, 96))(results)
    assert out["gt_seg_map"].shape == (96, 128) and "gt_depth" not in out
    with pytest.raises(
        KeyError, match="task 'depth' has no label map results\\['gt_depth'\\]"
    ):
        PackMultiTaskInputs()(out)


def test_pack_rejects_a_label_of_another_size():
    results = block_results()[0]
    results["gt_depth"] = results["gt_depth"][:40]
    with pytest.raises(
        ValueError,
        match="depth label map has size \\(40, 64\\), expected the image size \\(48, 64\\)",
    ):
        PackMultiTaskInputs()(results)


def test_test_pipeline_keeps_labels_at_original_size(fake_roots):
    from mtcp.datasets import NYUDv2MTDataset

    pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="MultiTaskResize", scale=(96, 72), keep_ratio=True),
        dict(type="LoadMultiTaskAnnotations"),
        dict(type="PackMultiTaskInputs"),
    ]
    packed = NYUDv2MTDataset(fake_roots["nyud"], "val", pipeline=pipeline)[0]
    sample = packed["data_samples"]
    assert packed["inputs"].shape == (3, 72, 96)
    assert sample.gt_depth.shape == (48, 64) and sample.gt_normals.shape == (48, 64)
    assert sample.ori_shape == (48, 64) and sample.img_shape == (72, 96)
    assert sample.scale_factor == (1.5, 1.5)


def test_pack_dtypes_and_meta():
    results = MultiTaskPad(size=(48, 64))(
        MultiTaskRandomFlip(prob=1.0)(block_results()[0])
    )
    packed = PackMultiTaskInputs()(results)
    inputs, sample = packed["inputs"], packed["data_samples"]
    assert inputs.shape == (3, 48, 64) and inputs.dtype == torch.uint8
    np.testing.assert_array_equal(inputs.permute(1, 2, 0).numpy(), results["img"])
    expected = dict(
        semseg=(1, torch.int64),
        parts=(1, torch.int64),
        saliency=(1, torch.int64),
        edge=(1, torch.int64),
        depth=(1, torch.float32),
        normals=(3, torch.float32),
    )
    for name, (channels, dtype) in expected.items():
        data = sample.get_gt(name).data
        assert data.shape == (channels, 48, 64) and data.dtype == dtype, name
    np.testing.assert_array_equal(
        sample.gt_sem_seg.data[0].numpy(), results["gt_seg_map"]
    )
    np.testing.assert_array_equal(
        sample.gt_normals.data.numpy(), results["gt_normals"].transpose(2, 0, 1)
    )
    meta = sample.metainfo
    assert (
        meta["flip"]
        and meta["flip_direction"] == "horizontal"
        and meta["tasks"] == ALL_TASKS
    )
    assert meta["img_shape"] == (48, 64) and meta["pad_shape"] == (48, 64, 3)
    assert meta["ori_shape"] == (48, 64) and meta["img_path"] == "blocks.png"


TRAIN_PIPELINE = [
    dict(type="MultiTaskRandomResize", scale=(64, 48), ratio_range=(0.5, 2.0)),
    dict(type="MultiTaskRandomCrop", crop_size=(40, 56), cat_max_ratio=0.75),
    dict(type="MultiTaskRandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="MultiTaskPad", size=(40, 56)),
    dict(type="PackMultiTaskInputs"),
]


def test_photometric_distortion_only_touches_the_image():
    np.random.seed(0)
    results, _, _ = block_results()
    original = results["img"].copy()
    labels = {k: v.copy() for k, v in results.items() if k.startswith("gt_")}
    out = Compose([dict(type="PhotoMetricDistortion", brightness_delta=64)])(results)
    assert out["img"].dtype == np.uint8 and out["img"].shape == (48, 64, 3)
    assert not np.array_equal(out["img"], original)
    for key, value in labels.items():
        np.testing.assert_array_equal(out[key], value)


@pytest.mark.parametrize("task_set", ["nyud", "pascal"])
def test_dataloader_batches_have_padded_size(task_set):
    ds = SyntheticScenesDataset(
        task_set, num_samples=4, img_size=(48, 64), seed=1, pipeline=TRAIN_PIPELINE
    )
    loader = DataLoader(ds, batch_size=2, collate_fn=pseudo_collate)
    batches = list(loader)
    assert len(batches) == 2
    for batch in batches:
        assert len(batch["inputs"]) == 2
        for inputs, sample in zip(batch["inputs"], batch["data_samples"]):
            assert inputs.shape == (3, 40, 56)
            for name in ds.tasks:
                assert sample.get_gt(name).data.shape[-2:] == (40, 56), name
            assert sample.pad_shape[:2] == (40, 56)
