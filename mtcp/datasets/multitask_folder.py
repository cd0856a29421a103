"""A multi-task dataset read from an image folder and one folder per task."""

import logging
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Set, Union

from mmengine import fileio
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from mtcp.structures import TASKS
from mtcp.tasks import task_kind

from .base_multitask_dataset import BaseMultiTaskDataset, random_palette


def resolve_labels(
    name: str,
    expected: Mapping[str, Sequence[str]],
    present: Mapping[str, Set[str]],
    allow_missing: bool,
) -> Dict[str, List[Optional[str]]]:
    """Check which label files exist and log how many images carry each task.

    Args:
        name (str): Dataset name, for messages.
        expected (Mapping[str, Sequence[str]]): Per task, the label path of
            every image, in the order of the images.
        present (Mapping[str, set[str]]): Per task, the paths that exist.
        allow_missing (bool): Give an image without a label file ``None``
            (an all-ignore map when loaded) instead of raising.

    Returns:
        dict[str, list[str | None]]: Per task, the path or None per image.
    """
    resolved, counts = {}, []
    for task, paths in expected.items():
        found = [path if path in present[task] else None for path in paths]
        missing = [path for path, hit in zip(paths, found) if hit is None]
        if missing and not allow_missing:
            raise FileNotFoundError(
                f"{name}: {len(missing)} of {len(paths)} images have no {task} "
                f"label file, e.g. {missing[0]}; set allow_missing_labels=True "
                "if some images are not labelled for this task"
            )
        if paths and len(missing) == len(paths):
            print_log(
                f"{name}: no image has a {task} label (none of the files like "
                f"{paths[0]} exists); check its folder and suffix",
                logger="current",
                level=logging.WARNING,
            )
        resolved[task] = found
        counts.append(f"{task} {len(paths) - len(missing)}/{len(paths)}")
    num_images = len(next(iter(expected.values()), ()))
    print_log(
        f"{name}: {num_images} images; images with a label per task: "
        + ", ".join(counts),
        logger="current",
    )
    return resolved


def list_files(root: str, rel_dir: str, suffixes: Sequence[str], backend_args):
    """Relative paths (recursive) of the files in ``rel_dir`` with a suffix."""
    path = osp.join(root, rel_dir)
    if not fileio.isdir(path, backend_args=backend_args):
        raise FileNotFoundError(f"folder {path} not found")
    return sorted(
        fileio.list_dir_or_file(
            path,
            list_dir=False,
            suffix=tuple(suffixes),
            recursive=True,
            backend_args=backend_args,
        )
    )


@DATASETS.register_module()
class MultiTaskFolderDataset(BaseMultiTaskDataset):
    """Your own multi-task data: an image folder plus one folder per task.

    Layout (folder names and suffixes configurable, sub-folders allowed)::

        <data_root>/<img_dir>/<id><img_suffix>
        <data_root>/<folder of task>/<id><suffix of task>
        <data_root>/<split_file>         optional, one id per line

    Label formats, chosen by the suffix of each task among those its kind
    reads (docs/data.md lists them):

    - class maps (semseg, parts) ``.png``: uint8 class indices 0..K-1;
      ``ignore_index`` (default 255) marks unlabelled pixels;
      ``reduce_zero_label=True`` reads 0 as unlabelled and 1..K as 0..K-1.
    - depth ``.npy``: float32 metres; ``.png``: 8/16-bit, metres =
      ``v / scale`` (``scale`` required, e.g. 1000 for millimetres); 0 is
      invalid.
    - normals ``.npy``: (H, W, 3) in [-1, 1]; ``.png``: 8-bit RGB,
      ``n = 2 v / 255 - 1``; the zero vector is invalid.
    - binary maps and boundaries (saliency, edge) ``.png``: ``v / 255 >
      0.5``; ``.npy`` in [0, 1].

    Class names and palettes come from ``metainfo`` (the task's
    ``classes_key`` / ``palette_key``: ``classes`` / ``palette`` for
    semseg, ``part_classes`` / ``part_palette`` for parts); a missing
    palette is drawn at random. Each data info holds ``img_path``,
    ``img_id``, ``tasks``, ``ann_paths`` (task -> file or None) and
    ``num_classes``, plus the tasks' ``label_options`` for the loader.

    Args:
        data_root (str): Root folder.
        tasks (Sequence[str]): Tasks to load, any subset of ``TASKS``.
        img_dir (str): Image folder. Defaults to ``'images'``.
        img_suffix (str | Sequence[str]): Image file suffix(es). Defaults to
            ``('.jpg', '.png')``.
        task_folders (dict, optional): Per task: ``folder`` (default: the
            task name), ``suffix`` (default: the first its kind reads), and
            the kind's options: ``scale`` (depth ``.png``), ``ignore_index``
            / ``reduce_zero_label`` (class maps).
        split_file (str, optional): File (relative to ``data_root``) listing
            the ids to use; None uses every image of ``img_dir``.
        allow_missing_labels (bool): An image without a label file for a
            task gets an all-ignore map for it instead of an error. Defaults
            to False.
        **kwargs: ``pipeline``, ``test_mode``, ``metainfo``, ``lazy_init``,
            ``serialize_data``, ``indices``, ``backend_args`` (see
            :class:`BaseMultiTaskDataset`).
    """

    SPLITS = (None,)

    def __init__(
        self,
        data_root: str,
        tasks: Sequence[str],
        img_dir: str = "images",
        img_suffix: Union[str, Sequence[str]] = (".jpg", ".png"),
        task_folders: Optional[Mapping[str, dict]] = None,
        split_file: Optional[str] = None,
        allow_missing_labels: bool = False,
        **kwargs,
    ) -> None:
        if "split" in kwargs:
            raise TypeError(
                "MultiTaskFolderDataset takes no `split`: list the ids of a split "
                "in a file and pass it as `split_file` (None: every image)"
            )
        self.img_dir = img_dir
        self.img_suffix = (img_suffix,) if isinstance(img_suffix, str) else img_suffix
        self.split_file = split_file
        self.allow_missing_labels = allow_missing_labels
        self.label_counts: Dict[str, int] = {}
        self._task_folders = self._check_task_folders(tasks, task_folders or {})
        self._label_options = {
            task: task_kind(task).check_label_options(
                {k: v for k, v in cfg.items() if k not in ("folder", "suffix")},
                cfg["suffix"],
                f"MultiTaskFolderDataset.task_folders[{task!r}]",
            )
            for task, cfg in self._task_folders.items()
        }
        super().__init__(
            data_root,
            split=None,
            tasks=tasks,
            data_prefix={t: cfg["folder"] for t, cfg in self._task_folders.items()},
            **kwargs,
        )
        self._add_palettes()

    @staticmethod
    def _check_task_folders(
        tasks: Sequence[str], overrides: Mapping[str, dict]
    ) -> Dict[str, dict]:
        where = "MultiTaskFolderDataset.task_folders"
        if tasks is None or isinstance(tasks, str):
            raise TypeError(
                "MultiTaskFolderDataset needs `tasks`, a list of task names out "
                f"of {list(TASKS)}, got {tasks!r}"
            )
        extra = sorted(set(overrides) - set(tasks))
        if extra:
            raise ValueError(f"{where} names {extra}, which are not in tasks {tasks}")
        folders = {}
        for task in tasks:
            kind = task_kind(task)
            cfg = dict(
                dict(folder=task, suffix=kind.suffixes[0]), **overrides.get(task, {})
            )
            allowed = {"folder", "suffix", *kind.label_options}
            unknown = sorted(set(cfg) - allowed)
            if unknown:
                raise ValueError(
                    f"{where}[{task!r}] has unknown key(s) {unknown}; allowed: "
                    f"{sorted(allowed)}"
                )
            if cfg["suffix"] not in kind.suffixes:
                raise ValueError(
                    f"{where}[{task!r}]: suffix {cfg['suffix']!r} is not supported; "
                    f"use one of {kind.suffixes}"
                )
            folders[task] = cfg
        return folders

    def _add_palettes(self) -> None:
        for task in self.tasks:
            info = TASKS[task]
            if info.classes_key is None:
                continue
            names = self._metainfo.get(info.classes_key)
            if not names:
                raise ValueError(
                    f"MultiTaskFolderDataset: task {task!r} needs its class names "
                    f"in metainfo[{info.classes_key!r}]"
                )
            palette = self._metainfo.get(info.palette_key)
            if palette is None:
                self._metainfo[info.palette_key] = random_palette(
                    len(names), seed=len(names)
                )
            elif len(palette) != len(names):
                raise ValueError(
                    f"MultiTaskFolderDataset: metainfo[{info.palette_key!r}] has "
                    f"{len(palette)} colours for {len(names)} classes"
                )

    def load_data_list(self) -> List[dict]:
        name = type(self).__name__
        root = self.data_root
        img_files = list_files(root, self.img_dir, self.img_suffix, self.backend_args)
        images = {osp.splitext(f)[0]: f for f in reversed(img_files)}
        if self.split_file is None:
            ids = sorted(images)
            if not ids:
                raise FileNotFoundError(
                    f"{name}: no image with suffix {self.img_suffix} in "
                    f"{osp.join(root, self.img_dir)}"
                )
        else:
            ids = self._read_split(self.split_file)
            missing = [i for i in ids if i not in images]
            if missing:
                raise FileNotFoundError(
                    f"{name}: {len(missing)} ids of {osp.join(root, self.split_file)}"
                    f" have no image, e.g. {osp.join(root, self.img_dir, missing[0])}"
                    f"{{{','.join(self.img_suffix)}}}"
                )
        expected, present = {}, {}
        for task, cfg in self._task_folders.items():
            files = list_files(root, cfg["folder"], (cfg["suffix"],), self.backend_args)
            present[task] = {osp.join(root, cfg["folder"], f) for f in files}
            expected[task] = [
                osp.join(root, cfg["folder"], img_id + cfg["suffix"]) for img_id in ids
            ]
        labels = resolve_labels(name, expected, present, self.allow_missing_labels)
        self.label_counts = {
            task: sum(path is not None for path in paths)
            for task, paths in labels.items()
        }
        num_classes = self.class_counts()
        return [
            dict(
                img_path=osp.join(root, self.img_dir, images[img_id]),
                img_id=img_id,
                tasks=list(self.tasks),
                ann_paths={task: paths[i] for task, paths in labels.items()},
                num_classes=num_classes,
            )
            for i, img_id in enumerate(ids)
        ]

    def get_data_info(self, idx: int) -> dict:
        """The data info of ``idx`` plus the tasks' decoding options."""
        info = super().get_data_info(idx)
        info["label_options"] = self._label_options
        return info
