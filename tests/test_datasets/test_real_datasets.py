import os
import os.path as osp
import shutil
import time

import mmcv
import numpy as np
import pytest
from scipy.io import loadmat

from mtcp.datasets import NYUDv2MTDataset, PascalContextMTDataset
from mtcp.tasks.human_parts import decode_pascal_part_mat

LOAD = [dict(type="LoadImageFromFile"), dict(type="LoadMultiTaskAnnotations")]
NYUD_ALL = ["semseg", "depth", "normals", "edge"]
PASCAL_ALL = ["semseg", "parts", "saliency", "normals", "edge"]


def read_raw(path):
    return mmcv.imread(path, flag="unchanged", backend="pillow")


@pytest.mark.parametrize("layout", ["nyud", "nyud-png"])
def test_nyud_label_conventions(fake_roots, layout):
    root = fake_roots[layout]
    ds = NYUDv2MTDataset(root, "train", tasks=NYUD_ALL, pipeline=LOAD)
    assert len(ds) == 3
    assert len(ds.metainfo["classes"]) == 40 and len(ds.metainfo["palette"]) == 40
    img_ext = ".png" if layout == "nyud-png" else ".jpg"
    info = ds.get_data_info(0)
    assert info["img_path"].endswith(img_ext)
    assert info["ann_paths"]["normals"].endswith(
        ".png" if img_ext == ".png" else ".npy"
    )
    results = ds[0]
    assert results["tasks"] == NYUD_ALL and results["img"].shape == (48, 64, 3)
    raw = read_raw(info["ann_paths"]["semseg"])
    seg = results["gt_seg_map"]
    assert seg.dtype == np.uint8 and seg.shape == (48, 64)
    assert (raw == 0).any() and (raw > 0).any()
    np.testing.assert_array_equal(seg[raw == 0], 255)
    np.testing.assert_array_equal(seg[raw > 0], raw[raw > 0] - 1)
    # the fake writer maps wall -> 1, floor -> 2 on disk: 0 and 1 after the shift
    assert {0, 1} <= set(np.unique(seg).tolist())
    depth = results["gt_depth"]
    np.testing.assert_array_equal(depth, np.load(info["ann_paths"]["depth"]))
    assert depth.dtype == np.float32 and (depth[raw == 0] == 0).all()
    assert depth[raw > 0].min() > 0.5
    normals = results["gt_normals"]
    assert normals.shape == (48, 64, 3) and normals.dtype == np.float32
    norms = np.linalg.norm(normals, axis=2)
    assert (norms[raw == 0] == 0).all()
    np.testing.assert_allclose(norms[raw > 0], 1, atol=0.02)
    assert set(np.unique(results["gt_edge"]).tolist()) == {0, 1}


def test_nyud_normals_png_and_npy_agree(fake_roots):
    npy = NYUDv2MTDataset(fake_roots["nyud"], "val", pipeline=LOAD)
    png = NYUDv2MTDataset(fake_roots["nyud-png"], "val", pipeline=LOAD)
    for i in range(len(npy)):
        a, b = npy[i], png[i]
        # within the PNG quantisation of 2 / 255
        np.testing.assert_allclose(a["gt_normals"], b["gt_normals"], atol=1.01 / 255)
        np.testing.assert_array_equal(a["gt_seg_map"], b["gt_seg_map"])
        np.testing.assert_array_equal(a["gt_depth"], b["gt_depth"])


def test_pascal_label_conventions(fake_roots):
    root = fake_roots["pascal"]
    ds = PascalContextMTDataset(root, "train", tasks=PASCAL_ALL, pipeline=LOAD)
    assert ds.metainfo["classes"][15] == "person" and len(ds.metainfo["classes"]) == 21
    assert ds.metainfo["palette"][1] == [128, 0, 0]  # VOC colour map
    assert len(ds.metainfo["part_classes"]) == 7
    seen_person = False
    for i in range(len(ds)):
        info, results = ds.get_data_info(i), ds[i]
        raw_seg = read_raw(info["ann_paths"]["semseg"])
        np.testing.assert_array_equal(results["gt_seg_map"], raw_seg)
        raw_sal = read_raw(info["ann_paths"]["saliency"])
        assert set(np.unique(raw_sal).tolist()) & {127, 128}
        np.testing.assert_array_equal(results["gt_saliency"], raw_sal >= 128)
        parts = results["gt_parts"]
        person = raw_seg == 15
        if person.any():
            seen_person = True
            # parts live on the person, background elsewhere
            assert (parts[~person & (raw_seg != 255)] == 0).all()
            assert (parts[person] > 0).mean() > 0.9 and parts.max() <= 6
        normals = results["gt_normals"]
        np.testing.assert_allclose(np.linalg.norm(normals, axis=2), 1, atol=0.02)
    assert seen_person


def _part_mat(fake_tool, objects, shape=(4, 5)):
    return fake_tool.encode_pascal_part_mat(objects, "x")


def test_human_part_grouping(fake_tool):
    shape = (3, 8)
    names = ["hair", "neck", "ruarm", "lhand", "luleg", "rfoot", "torso", "nose"]
    parts = []
    for col, name in enumerate(names):
        mask = np.zeros(shape, bool)
        mask[:, col] = True
        parts.append((name, mask))
    person = np.ones(shape, bool)
    chair = np.zeros(shape, bool)
    content = _part_mat(
        fake_tool, [("chair", 9, chair, []), ("person", 15, person, parts)], shape
    )
    assert loadmat(__import__("io").BytesIO(content))["anno"][0][0][1][0].shape == (2,)
    out = decode_pascal_part_mat(content, shape, "x.mat")
    np.testing.assert_array_equal(out[0], [1, 2, 3, 4, 5, 6, 2, 1])
    assert out.dtype == np.uint8


def test_image_without_person_gets_all_ignore_parts(fake_tool):
    shape = (4, 5)
    mask = np.ones(shape, bool)
    # a chair, and a person without part annotation: neither gives parts
    content = _part_mat(
        fake_tool, [("chair", 9, mask, []), ("person", 15, mask, [])], shape
    )
    np.testing.assert_array_equal(decode_pascal_part_mat(content, shape, "x"), 255)


def test_unknown_part_name_is_an_error(fake_tool):
    shape = (2, 2)
    content = _part_mat(
        fake_tool,
        [("person", 15, np.ones(shape, bool), [("tail", np.ones(shape, bool))])],
    )
    with pytest.raises(
        ValueError, match="x.mat: unknown PASCAL-Part person part 'tail'"
    ):
        decode_pascal_part_mat(content, shape, "x.mat")


def test_pascal_older_semseg_folder(fake_roots, tmp_path):
    root = str(tmp_path / "pascal")
    shutil.copytree(fake_roots["pascal"], root)
    os.rename(
        osp.join(root, "semseg", "pascal-context"), osp.join(root, "semseg", "VOC12")
    )
    ds = PascalContextMTDataset(root, "val", pipeline=LOAD)
    assert "/semseg/VOC12/" in ds.get_data_info(0)["ann_paths"]["semseg"]
    assert ds[0]["gt_seg_map"].shape == (48, 64)


@pytest.fixture
def nyud_copy(fake_roots, tmp_path):
    root = str(tmp_path / "nyud")
    shutil.copytree(fake_roots["nyud"], root)
    return root


def test_bad_input_errors(nyud_copy, tmp_path):
    root = nyud_copy
    with pytest.raises(
        FileNotFoundError, match="data_root .*missing.* is not a directory"
    ):
        NYUDv2MTDataset(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="task 'parts', which is not available"):
        NYUDv2MTDataset(root, tasks=["semseg", "parts"])
    with pytest.raises(KeyError, match="Unknown task 'sky'"):
        NYUDv2MTDataset(root, tasks=["sky"])
    with pytest.raises(ValueError, match="split must be one of"):
        NYUDv2MTDataset(root, split="test")

    os.remove(osp.join(root, "depth", "000001.npy"))
    with pytest.raises(
        FileNotFoundError,
        match=r"1 of 3 ids .* no depth file, e.g. .*depth/000001\{.npy,.png\}",
    ):
        NYUDv2MTDataset(root)
    NYUDv2MTDataset(root, tasks=["semseg"])  # depth not requested: fine

    os.remove(osp.join(root, "gt_sets", "val.txt"))
    with pytest.raises(
        FileNotFoundError, match="split file .*gt_sets/val.txt not found"
    ):
        NYUDv2MTDataset(root, split="val")


def test_bad_file_content_errors(nyud_copy):
    root = nyud_copy
    ds = NYUDv2MTDataset(root, "train", tasks=NYUD_ALL, pipeline=LOAD)
    with open(osp.join(root, "images", "000000.jpg"), "wb") as f:
        f.write(b"not an image")
    with pytest.raises(AssertionError, match="failed to load image: .*000000.jpg"):
        ds[0]
    with open(osp.join(root, "segmentation", "000001.png"), "wb") as f:
        f.write(b"not a png")
    with pytest.raises(ValueError, match="000001.png: unreadable image"):
        ds[1]
    shutil.copy(
        osp.join(root, "segmentation", "000002.png"),
        osp.join(root, "segmentation", "000001.png"),
    )
    np.save(osp.join(root, "depth", "000001.npy"), np.ones((48, 64), np.float64))
    with pytest.raises(
        TypeError, match="000001.npy: depth has dtype float64, expected float32"
    ):
        ds[1]
    np.save(osp.join(root, "depth", "000001.npy"), np.ones((40, 64), np.float32))
    with pytest.raises(
        ValueError,
        match=r"000001.npy: depth label map has size \(40, 64\), expected the image size \(48, 64\)",
    ):
        ds[1]
    mmcv.imwrite(
        np.full((48, 64), 45, np.uint8), osp.join(root, "segmentation", "000002.png")
    )
    with pytest.raises(
        ValueError, match=r"000002.png: semseg label values \[44\] out of range"
    ):
        ds[2]


def test_listing_5000_ids_is_fast(tmp_path):
    root = tmp_path / "big"
    ids = [f"{i:05d}" for i in range(5000)]
    for folder, ext in [("images", ".png"), ("segmentation", ".png")]:
        (root / folder).mkdir(parents=True)
        for img_id in ids:
            # one byte: empty files are refused when the dataset is listed
            (root / folder / (img_id + ext)).write_bytes(b"x")
    (root / "gt_sets").mkdir()
    (root / "gt_sets" / "train.txt").write_text("\n".join(ids))
    start = time.perf_counter()
    ds = NYUDv2MTDataset(str(root), "train", tasks=["semseg"])
    elapsed = time.perf_counter() - start
    assert len(ds) == 5000 and ds.get_data_info(4999)["img_path"].endswith("04999.png")
    assert elapsed < 3.0, f"listing 5,000 ids took {elapsed:.2f} s"


def test_check_dataset_reports_every_problem(nyud_copy):
    from tool_loader import load_tool

    check = load_tool("dataset_converters/check_dataset.py").check_dataset
    assert check(nyud_copy, "nyud") == []
    os.remove(osp.join(nyud_copy, "normals", "100001.npy"))
    mmcv.imwrite(
        np.full((48, 64), 50, np.uint8),
        osp.join(nyud_copy, "segmentation", "000002.png"),
    )
    np.save(osp.join(nyud_copy, "depth", "000000.npy"), np.ones((48, 64), np.int32))
    problems = check(nyud_copy, "nyud")
    assert len(problems) == 3
    assert "000000.npy: depth has dtype int32" in problems[0]
    assert "000002.png: semseg label values [49] out of range" in problems[1]
    assert problems[2].startswith("[val]") and "no normals file" in problems[2]
