"""Check a NYUD-v2, PASCAL_MT or Cityscapes data root, or the datasets of a
config (your own MultiTaskFolderDataset), before a long training run.

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
    python tools/dataset_converters/check_dataset.py --config my_config.py
"""

import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS as DATASET_REGISTRY

from mtcp.datasets import (
    CityscapesMTDataset,
    NYUDv2MTDataset,
    PascalContextMTDataset,
)
from mtcp.datasets.plausibility import label_warnings

DATASETS = {
    "nyud": NYUDv2MTDataset,
    "pascal": PascalContextMTDataset,
    "cityscapes": CityscapesMTDataset,
}


def tasks_present(dataset_cls, data_root: str) -> List[str]:
    """The standard tasks of a dataset plus the optional ones whose label
    folder exists under ``data_root``."""
    tasks = list(dataset_cls.DEFAULT_TASKS)
    for task, folders in dataset_cls.task_folders().items():
        if task not in tasks and any(
            osp.isdir(osp.join(data_root, folder)) for folder in folders
        ):
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
        dataset (str): 'nyud', 'pascal' or 'cityscapes'.
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
    problems = []
    for split in splits:
        try:
            ds = dataset_cls(data_root, split, tasks=tasks, serialize_data=False)
        except (FileNotFoundError, ValueError, KeyError) as err:
            problems.append(f"[{split}] {err}")
            continue
        problems += check_items(ds, split, dataset, warnings)
    return problems


def check_items(
    ds, name: str, dataset: Optional[str] = None, warnings: Optional[list] = None
) -> List[str]:
    """Load every item of a built dataset; one message per broken item.

    Args:
        ds: The dataset, built without its pipeline.
        name (str): The split or dataloader, for the messages.
        dataset (str, optional): 'nyud', 'pascal', ... for the range checks
            of :func:`mtcp.datasets.plausibility.label_warnings`.
        warnings (list, optional): Receives one message per implausible
            label map.
    """
    load = Compose(
        [dict(type="LoadImageFromFile"), dict(type="LoadMultiTaskAnnotations")]
    )
    problems = []
    for index in range(len(ds)):
        info = ds.get_data_info(index)
        try:
            results = load(info)
        # a checker reports every broken item instead of stopping at the first
        except Exception as err:
            problems.append(f"[{name}] {info['img_id']}: {err}")
            continue
        if warnings is not None:
            warnings += [f"[{name}] {w}" for w in label_warnings(results, dataset)]
    print(f"{name}: checked {len(ds)} items")
    return problems


def check_config(
    config: str, cfg_options: Optional[dict] = None, warnings: Optional[list] = None
) -> List[str]:
    """Check the datasets of a config's train, val and test dataloaders.

    Each dataset is built as configured (its pipeline left out) and every
    item loaded, so any dataset class of the registry can be checked, e.g.
    your own ``MultiTaskFolderDataset``.

    Args:
        config (str): Config file.
        cfg_options (dict, optional): Overrides of config fields.
        warnings (list, optional): Receives one message per implausible
            label map.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get("default_scope", "mmseg"))
    from mtcp.tasks import declare_tasks  # importing mtcp registers its modules

    declare_tasks(cfg.get("task_table"))

    problems, seen = [], []
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        if cfg.get(loader) is None:
            continue
        dataset_cfg = dict(cfg[loader].dataset, pipeline=[], serialize_data=False)
        if dataset_cfg in seen:
            continue
        seen.append(dataset_cfg)
        name = loader.replace("_dataloader", "")
        try:
            ds = DATASET_REGISTRY.build(dataset_cfg)
        except (FileNotFoundError, ValueError, KeyError, TypeError) as err:
            problems.append(f"[{name}] {err}")
            continue
        problems += check_items(ds, name, warnings=warnings)
    return problems


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_root", nargs="?", help="root (with --dataset)")
    parser.add_argument("--dataset", choices=sorted(DATASETS))
    parser.add_argument(
        "--config", help="check the datasets of this config instead (any class)"
    )
    parser.add_argument(
        "--cfg-options", nargs="+", action=DictAction, help="override config fields"
    )
    parser.add_argument("--splits", nargs="+", default=["train", "val"])
    parser.add_argument("--tasks", nargs="+", default=None)
    return parser.parse_args()


def main():
    args = parse_args()
    warnings: List[str] = []
    if args.config:
        problems = check_config(args.config, args.cfg_options, warnings)
    elif args.data_root and args.dataset:
        problems = check_dataset(
            args.data_root, args.dataset, args.splits, args.tasks, warnings
        )
    else:
        sys.exit("give a data_root and --dataset, or --config")
    for warning in warnings:
        print(f"warning: {warning}")
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) found" if problems else "no problem found")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
