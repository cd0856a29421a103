"""The synthetic training batch of ``benchmark.py`` and
``memory_breakdown.py``, and its file for run B of ``benchmark.py --compare``.

Run A makes the batch with the task heads' random labels and writes it as
plain tensors (``--save-batch``); run B reads it (``--batch-file``) and so
measures the very same batch, even when ``--compare-pythonpath`` points at a
checkout of mtcp that has no such heads.
"""

from typing import Dict, List, Sequence

import torch
import torch.nn as nn
from mmengine.structures import PixelData

from mtcp.structures import TASKS, MultiTaskDataSample

# Share of pixels given the ignore / invalid value in the synthetic labels.
INVALID_FRACTION = 0.05


def random_label(
    task: str,
    num_classes: int,
    size: Sequence[int],
    generator: torch.Generator,
    invalid_fraction: float = INVALID_FRACTION,
) -> torch.Tensor:
    """One label map of ``task`` in the packed layout of docs/design.md: its
    kind's random label, with ``invalid_fraction`` of the pixels set to the
    task's pad value (no label)."""
    h, w = size
    invalid = torch.rand(1, h, w, generator=generator) < invalid_fraction
    # imported here: run B may use a checkout of mtcp without task kinds
    from mtcp.tasks import task_kind

    kind = task_kind(task)
    label = kind.random_label(num_classes, size, generator)
    return label.masked_fill(invalid, kind.pad_value)


def make_batch(model: nn.Module, batch_size: int, size: Sequence[int], seed: int = 0):
    """A training batch as a data loader gives it: uint8 images and samples
    carrying every task's label at the input size."""
    generator = torch.Generator().manual_seed(seed)
    h, w = size
    inputs, labels = [], {task: [] for task in model.tasks}
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=generator).byte())
        for task in model.tasks:
            num_classes = model.out_channels[task]
            labels[task].append(random_label(task, num_classes, size, generator))
    return pack_batch(inputs, labels)


def pack_batch(
    inputs: List[torch.Tensor], labels: Dict[str, List[torch.Tensor]]
) -> dict:
    """``dict(inputs, data_samples)`` of images and their labels by task."""
    samples = []
    for i, image in enumerate(inputs):
        h, w = image.shape[-2:]
        sample = MultiTaskDataSample(
            metainfo=dict(
                ori_shape=(h, w),
                img_shape=(h, w),
                pad_shape=(h, w),
                scale_factor=(1.0, 1.0),
                flip=False,
                flip_direction=None,
                tasks=list(labels),
            )
        )
        for task, maps in labels.items():
            setattr(sample, TASKS[task].gt_field, PixelData(data=maps[i]))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def save_batch(data: dict, path: str) -> None:
    """Write a batch of :func:`pack_batch` as plain tensors to ``path``."""
    tasks = data["data_samples"][0].metainfo["tasks"]
    labels = {
        task: [getattr(s, TASKS[task].gt_field).data for s in data["data_samples"]]
        for task in tasks
    }
    torch.save(dict(inputs=data["inputs"], labels=labels), path)


def load_batch(path: str, model: nn.Module) -> dict:
    """The batch :func:`save_batch` wrote, for ``model``'s tasks."""
    saved = torch.load(path, weights_only=True)
    if sorted(saved["labels"]) != sorted(model.tasks):
        raise ValueError(
            f"{path}: the batch has labels of tasks {sorted(saved['labels'])}, "
            f"the model predicts {sorted(model.tasks)}"
        )
    return pack_batch(saved["inputs"], saved["labels"])
