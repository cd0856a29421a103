"""Check a NYUD-v2 or PASCAL_MT data root before a long training run.

Lists missing files (split files, ids without an image or label file, ids
listed twice, empty files), then reads every item with the training loaders
and reports unreadable files, label maps whose size differs from the image,
wrong dtypes and out-of-range label values. Every problem is printed; the exit
status is 1 if any was found. Implausible values (depth beyond an indoor
range, as millimetres would be; normals that are not unit vectors; images
without any label) are printed as warnings and do not change the status.

By default the tasks of the dataset's standard configuration are checked
(NYUD: semseg, depth, normals; PASCAL: semseg, parts, saliency) plus the
optional ones whose folder exists (e.g. ``edge/``); ``--tasks`` overrides.

Example::

    python tools/dataset_converters/check_dataset.py data/NYUDv2 --dataset nyud
"""

import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mtcp.datasets import NYUDv2MTDataset, PascalContextMTDataset
from mtcp.datasets.plausibility import label_warnings

DATASETS = {"nyud": NYUDv2MTDataset, "pascal": PascalContextMTDataset}


def tasks_present(dataset_cls, data_root: str) -> List[str]:
    """The standard tasks of a dataset plus the optional ones whose label
    folder exists under ``data_root``."""
    tasks = list(dataset_cls.DEFAULT_TASKS)
    folders = getattr(dataset_cls, "_TASK_FILES", {})
    for task in dataset_cls.AVAILABLE_TASKS:
        if task not in tasks and task in folders:
            if osp.isdir(osp.join(data_root, folders[task][0])):
                tasks.append(task)
    return tasks


def check_dataset(
    data_root: str,
    dataset: str,
    splits: Sequence[str] = ("train", "val"),
    tasks: Optional[Sequence[str]] = None,
    warnings: Optional[List[str]] = None,
) -> List[str]:
    """Return one message per problem found (empty when all is well).

    Args:
        data_root (str): Root of the dataset package.
        dataset (str): 'nyud' or 'pascal'.
        splits (Sequence[str]): Splits to check.
        tasks (Sequence[str], optional): Tasks to check; defaults to
            :func:`tasks_present`.
        warnings (list, optional): Receives one message per implausible
            label map (see :mod:`mtcp.datasets.plausibility`).
    """
    init_default_scope("mmseg")
    dataset_cls = DATASETS[dataset]
    tasks = list(tasks or tasks_present(dataset_cls, data_root))
    print(f"checking tasks {tasks}")
    load = Compose(
        [dict(type="LoadImageFromFile"), dict(type="LoadMultiTaskAnnotations")]
    )
    problems = []
    for split in splits:
        try:
            ds = dataset_cls(data_root, split, tasks=tasks, serialize_data=False)
        except (FileNotFoundError, ValueError, KeyError) as err:
            problems.append(f"[{split}] {err}")
            continue
        for index in range(len(ds)):
            info = ds.get_data_info(index)
            try:
                results = load(info)
            # a checker reports every broken item instead of stopping at the first
            except Exception as err:
                problems.append(f"[{split}] {info['img_id']}: {err}")
                continue
            if warnings is not None:
                warnings += [f"[{split}] {w}" for w in label_warnings(results, dataset)]
        print(f"{split}: checked {len(ds)} items")
    return problems


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_root")
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--splits", nargs="+", default=["train", "val"])
    parser.add_argument("--tasks", nargs="+", default=None)
    return parser.parse_args()


def main():
    args = parse_args()
    warnings: List[str] = []
    problems = check_dataset(
        args.data_root, args.dataset, args.splits, args.tasks, warnings
    )
    for warning in warnings:
        print(f"warning: {warning}")
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) found" if problems else "no problem found")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
