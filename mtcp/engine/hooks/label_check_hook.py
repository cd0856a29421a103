"""Look at the first training samples' labels before training on them."""

from typing import List, Optional

from mmengine.dataset import Compose
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mtcp.datasets import (
    CityscapesMTDataset,
    NYUDv2MTDataset,
    PascalContextMTDataset,
)
from mtcp.datasets.plausibility import label_warnings
from mtcp.datasets.transforms import LoadMultiTaskAnnotations

# The dataset names of the range checks of ``label_warnings``.
_DATASET_NAMES = (
    (NYUDv2MTDataset, "nyud"),
    (PascalContextMTDataset, "pascal"),
    (CityscapesMTDataset, "cityscapes"),
)


def innermost_dataset(dataset):
    """The first dataset inside mmengine's wrappers (``RepeatDataset``,
    ``ConcatDataset``, ...)."""
    while True:
        if getattr(dataset, "dataset", None) is not None:
            dataset = dataset.dataset
        elif getattr(dataset, "datasets", None):
            dataset = dataset.datasets[0]
        else:
            return dataset


def dataset_name(dataset) -> Optional[str]:
    """'nyud', 'pascal', 'cityscapes' or None (no dataset-specific range)."""
    for cls, name in _DATASET_NAMES:
        if isinstance(dataset, cls):
            return name
    return getattr(dataset, "task_set", None)


def loaded_samples(dataset, num_samples: int) -> List[dict]:
    """The first ``num_samples`` items of ``dataset`` as the training
    pipeline has them right after loading their label maps (before any
    augmentation)."""
    pipeline = dataset.pipeline
    transforms = list(getattr(pipeline, "transforms", []))
    loaders = [
        i for i, t in enumerate(transforms) if isinstance(t, LoadMultiTaskAnnotations)
    ]
    # in-memory datasets hand the pipeline loaded arrays: no loading step
    dataset.pipeline = Compose(transforms[: loaders[-1] + 1] if loaders else [])
    try:
        return [
            dataset.prepare_data(index)
            for index in range(min(num_samples, len(dataset)))
        ]
    finally:
        dataset.pipeline = pipeline


def labelled_tasks_only(results: dict) -> dict:
    """``results`` without the tasks it has no label file for (partially
    labelled data: their all-ignore maps are not findings)."""
    paths = results.get("ann_paths") or {}
    tasks = [t for t in results.get("tasks", []) if paths.get(t, "") is not None]
    return dict(results, tasks=tasks)


@HOOKS.register_module()
class LabelCheckHook(Hook):
    """Check the label maps of the first training samples before training.

    Values that load without error but are implausible, above all depth in
    millimetres where metres are expected (NYUD-v2 depth beyond 20 m), make
    every iteration of a long run worthless. Before the first iteration the
    first ``num_samples`` items of the training set are loaded (up to their
    label loading, without augmentation) and given to
    :func:`mtcp.datasets.plausibility.label_warnings`, the check of
    ``tools/dataset_converters/check_dataset.py``; a task an item has no
    label file for (partially labelled data) is not checked for it. By
    default a finding stops training with an error naming the file and the
    value; with ``error=False`` it is logged as a warning and training goes
    on.

    Args:
        num_samples (int): How many items to check. Defaults to 4.
        error (bool): Stop training on a finding (else warn). Defaults to
            True.
    """

    priority = "VERY_LOW"

    def __init__(self, num_samples: int = 4, error: bool = True) -> None:
        if isinstance(num_samples, bool) or not isinstance(num_samples, int):
            raise ValueError(f"num_samples must be an int >= 1, got {num_samples!r}")
        if num_samples < 1:
            raise ValueError(f"num_samples must be an int >= 1, got {num_samples}")
        self.num_samples = num_samples
        self.error = error

    def before_train(self, runner) -> None:
        dataset = innermost_dataset(runner.train_dataloader.dataset)
        if not hasattr(dataset, "prepare_data") or not hasattr(dataset, "pipeline"):
            return
        name = dataset_name(dataset)
        found = [
            message
            for results in loaded_samples(dataset, self.num_samples)
            for message in label_warnings(labelled_tasks_only(results), name)
        ]
        if not found:
            return
        where = f"the first {self.num_samples} items of train_dataloader.dataset"
        if self.error:
            raise ValueError(
                f"Implausible labels in {where}: "
                + "; ".join(found)
                + ". Fix the data (check_dataset.py lists every file), or set "
                "default_hooks.label_check.error=False to train anyway."
            )
        for message in found:
            runner.logger.warning(f"Implausible labels in {where}: {message}")
