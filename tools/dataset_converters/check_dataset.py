"""Check a NYUD-v2 or PASCAL_MT data root before a long training run.

Lists missing files (split files, ids without an image or label file), then
reads every item with the training loaders and reports unreadable files,
label maps whose size differs from the image, wrong dtypes and out-of-range
label values. Every problem is printed; the exit status is 1 if any was found.

Example::

    python tools/dataset_converters/check_dataset.py data/NYUDv2 --dataset nyud
"""

import argparse
import sys
from typing import List, Optional, Sequence

from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mtcp.datasets import NYUDv2MTDataset, PascalContextMTDataset

DATASETS = {"nyud": NYUDv2MTDataset, "pascal": PascalContextMTDataset}


def check_dataset(
    data_root: str,
    dataset: str,
    splits: Sequence[str] = ("train", "val"),
    tasks: Optional[Sequence[str]] = None,
) -> List[str]:
    """Return one message per problem found (empty when all is well).

    Args:
        data_root (str): Root of the dataset package.
        dataset (str): 'nyud' or 'pascal'.
        splits (Sequence[str]): Splits to check.
        tasks (Sequence[str], optional): Tasks to check; defaults to every
            task the dataset has.
    """
    init_default_scope("mmseg")
    dataset_cls = DATASETS[dataset]
    tasks = list(tasks or dataset_cls.AVAILABLE_TASKS)
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
                load(info)
            # a checker reports every broken item instead of stopping at the first
            except Exception as err:
                problems.append(f"[{split}] {info['img_id']}: {err}")
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
    problems = check_dataset(args.data_root, args.dataset, args.splits, args.tasks)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) found" if problems else "no problem found")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
