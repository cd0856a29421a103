"""LabelCheckHook: depth in millimetres stops training before it starts."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from tool_loader import load_tool

from mtcp.datasets import (
    MultiTaskFolderDataset,
    NYUDv2MTDataset,
    SyntheticScenesDataset,
)
from mtcp.engine.hooks import LabelCheckHook

PIPELINE = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadMultiTaskAnnotations"),
    dict(type="MultiTaskRandomFlip", prob=0.5),
    dict(type="PackMultiTaskInputs"),
]


class Logger:
    def __init__(self) -> None:
        self.warnings = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def runner_of(dataset) -> SimpleNamespace:
    return SimpleNamespace(
        train_dataloader=SimpleNamespace(dataset=dataset), logger=Logger()
    )


@pytest.fixture(scope="module")
def nyud_in_millimetres(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nyud_mm")
    load_tool("dataset_converters/make_fake_dataset.py").make_fake_dataset(
        str(root), "nyud", num_train=3, num_val=1, seed=0
    )
    for path in sorted((root / "depth").glob("*.npy")):
        np.save(path, np.load(path) * 1000)
    return root


def test_depth_in_millimetres_is_an_error_naming_the_file(nyud_in_millimetres):
    init_default_scope("mmseg")
    dataset = NYUDv2MTDataset(str(nyud_in_millimetres), "train", pipeline=PIPELINE)
    first = Path(dataset.get_data_info(0)["ann_paths"]["depth"])
    largest = float(np.load(first).max())
    runner = runner_of(dataset)
    with pytest.raises(ValueError) as error:
        LabelCheckHook(num_samples=2).before_train(runner)
    message = str(error.value)
    assert message.startswith(
        "Implausible labels in the first 2 items of train_dataloader.dataset: "
        f"{first}: depth: values up to {largest:g}, beyond the plausible 20 m of "
        "this dataset; depth must be in metres"
    )
    assert message.count("depth: values up to") == 2
    assert message.endswith(
        "or set default_hooks.label_check.error=False to train anyway."
    )
    # the training pipeline is left as it was
    assert len(dataset.pipeline.transforms) == len(PIPELINE)

    LabelCheckHook(num_samples=1, error=False).before_train(runner)
    assert len(runner.logger.warnings) == 1
    assert str(first) in runner.logger.warnings[0]


def test_plausible_labels_pass():
    init_default_scope("mmseg")
    # in memory: the pipeline starts after loading
    dataset = SyntheticScenesDataset(
        num_samples=4, pipeline=[dict(type="PackMultiTaskInputs")]
    )
    runner = runner_of(dataset)
    LabelCheckHook().before_train(runner)
    assert runner.logger.warnings == []


def test_images_without_a_label_file_are_not_findings(tmp_path):
    """Partially labelled data: half the images have no depth map; their
    all-ignore depth is not reported, a present map is checked."""
    init_default_scope("mmseg")
    load_tool("dataset_converters/make_fake_dataset.py").make_fake_dataset(
        str(tmp_path), "folder", num_train=4, num_val=1, drop_half=["depth"]
    )
    dataset = MultiTaskFolderDataset(
        str(tmp_path),
        tasks=["semseg", "depth", "normals"],
        task_folders=dict(depth=dict(suffix=".png", scale=1000.0)),
        allow_missing_labels=True,
        split_file="splits/train.txt",
        metainfo=dict(classes=("wall", "floor", "ceiling", "box", "ball")),
        pipeline=PIPELINE,
    )
    paths = [dataset.get_data_info(i)["ann_paths"]["depth"] for i in range(4)]
    assert None in paths and any(paths)
    runner = runner_of(dataset)
    LabelCheckHook().before_train(runner)
    assert runner.logger.warnings == []


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="num_samples must be an int >= 1"):
        LabelCheckHook(num_samples=0)
