"""Split files listing an id twice, empty files and implausible labels are
found before training; check_dataset.py checks the standard tasks by default."""

import os.path as osp
import shutil

import numpy as np
import pytest
from tool_loader import load_tool

from mtcp.datasets import NYUDv2MTDataset, PascalContextMTDataset

check_tool = load_tool("dataset_converters/check_dataset.py")


@pytest.fixture
def nyud(fake_roots, tmp_path):
    root = str(tmp_path / "nyud")
    shutil.copytree(fake_roots["nyud"], root)
    return root


def test_duplicate_split_ids_are_an_error(nyud):
    split = osp.join(nyud, "gt_sets", "train.txt")
    ids = open(split).read().split()
    with open(split, "w") as f:
        f.write("\n".join(ids + [ids[1]]) + "\n")
    with pytest.raises(ValueError) as error:
        NYUDv2MTDataset(nyud, "train")
    assert f"split file {split} lists 1 id(s) more than once" in str(error.value)
    assert f"{ids[1]!r} at entries [2, {len(ids) + 1}]" in str(error.value)
    problems = check_tool.check_dataset(nyud, "nyud", splits=["train"])
    assert len(problems) == 1 and "more than once" in problems[0]


def test_empty_files_are_named_when_the_dataset_is_built(nyud):
    image = osp.join(nyud, "images", "000001.jpg")
    open(image, "wb").close()
    with pytest.raises(ValueError, match=f"1 file\\(s\\) are empty.*{image}"):
        NYUDv2MTDataset(nyud, "train")


def test_default_tasks_are_the_standard_ones_plus_present_folders(nyud, fake_roots):
    assert check_tool.tasks_present(NYUDv2MTDataset, nyud) == [
        "semseg",
        "depth",
        "normals",
        "edge",
    ]
    shutil.rmtree(osp.join(nyud, "edge"))
    # docs/data.md's command on a root without the optional edge/ folder
    assert check_tool.tasks_present(NYUDv2MTDataset, nyud) == [
        "semseg",
        "depth",
        "normals",
    ]
    assert check_tool.check_dataset(nyud, "nyud") == []
    problems = check_tool.check_dataset(nyud, "nyud", tasks=["semseg", "edge"])
    assert problems and all("edge file" in p for p in problems)
    pascal = fake_roots["pascal"]
    assert check_tool.tasks_present(PascalContextMTDataset, pascal) == [
        "semseg",
        "parts",
        "saliency",
        "normals",
        "edge",
    ]


def test_depth_in_millimetres_and_other_implausible_labels_warn(nyud):
    depth = osp.join(nyud, "depth", "000000.npy")
    np.save(depth, np.load(depth) * 1000)
    normals = osp.join(nyud, "normals", "000001.npy")
    np.save(normals, np.load(normals) * 0.5)
    warnings = []
    assert check_tool.check_dataset(nyud, "nyud", ["train"], warnings=warnings) == []
    assert len(warnings) == 2
    assert f"{depth}: depth: values up to" in warnings[0]
    assert "millimetres" in warnings[0]
    assert f"{normals}: normals: 100% of the labelled vectors" in warnings[1]
