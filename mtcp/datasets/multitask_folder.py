"""A multi-task dataset read from an image folder and one folder per task."""

import logging
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Set, Union

from mmengine import fileio
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from mtcp.structures import IGNORE_INDEX, TASKS

from .base_multitask_dataset import BaseMultiTaskDataset, random_palette

# Folder and file suffix of each task's labels when the config names none.
DEFAULT_TASK_FOLDERS: Dict[str, dict] = {
    "semseg": dict(folder="semseg", suffix=".png"),
    "parts": dict(folder="parts", suffix=".png"),
    "depth": dict(folder="depth", suffix=".npy"),
    "normals": dict(folder="normals", suffix=".npy"),
    "saliency": dict(folder="saliency", suffix=".png"),
    "edge": dict(folder="edge", suffix=".png"),
}
# File suffixes each task can be read from (see LoadMultiTaskAnnotations).
TASK_SUFFIXES: Dict[str, tuple] = {
    "semseg": (".png",),
    "parts": (".png",),
    "depth": (".npy", ".png"),
    "normals": (".npy", ".png"),
    "saliency": (".png",),
    "edge": (".png", ".npy"),
}
# metainfo keys holding the class names and palette of each class task
CLASS_KEYS = {
    task: (info.classes_key, info.palette_key)
    for task, info in TASKS.items()
    if info.classes_key
}


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

    Label formats, chosen by the suffix of each task:

    - semseg / parts ``.png``: uint8 class indices 0..K-1; ``ignore_index``
      (default 255) marks unlabelled pixels; ``reduce_zero_label=True``
      reads 0 as unlabelled and 1..K as 0..K-1.
    - depth ``.npy``: float32 metres; ``.png``: 8/16-bit, metres =
      ``v / scale`` (``scale`` required, e.g. 1000 for millimetres); 0 is
      invalid.
    - normals ``.npy``: (H, W, 3) in [-1, 1]; ``.png``: 8-bit RGB,
      ``n = 2 v / 255 - 1``; the zero vector is invalid.
    - saliency / edge ``.png``: ``v / 255 > 0.5`` (edge also ``.npy`` in
      [0, 1]).

    Class names and palettes come from ``metainfo`` (``classes`` /
    ``palette`` for semseg, ``part_classes`` / ``part_palette`` for parts);
    a missing palette is drawn at random. Each data info holds ``img_path``,
    ``img_id``, ``tasks``, ``ann_paths`` (task -> file or None) and
    ``num_classes``, plus ``label_maps`` and ``depth_scale`` for the loader.

    Args:
        data_root (str): Root folder.
        tasks (Sequence[str]): Tasks to load, any subset of ``TASKS``.
        img_dir (str): Image folder. Defaults to ``'images'``.
        img_suffix (str | Sequence[str]): Image file suffix(es). Defaults to
            ``('.jpg', '.png')``.
        task_folders (dict, optional): Per task, overrides of
            :data:`DEFAULT_TASK_FOLDERS`: ``folder``, ``suffix``, and
            ``scale`` (depth ``.png``), ``ignore_index`` /
            ``reduce_zero_label`` (semseg, parts).
        split_file (str, optional): File (relative to ``data_root``) listing
            the ids to use; None uses every image of ``img_dir``.
        allow_missing_labels (bool): An image without a label file for a
            task gets an all-ignore map for it instead of an error. Defaults
            to False.
        **kwargs: ``pipeline``, ``test_mode``, ``metainfo``, ``lazy_init``,
            ``serialize_data``, ``indices``, ``backend_args`` (see
            :class:`BaseMultiTaskDataset`).
    """

    AVAILABLE_TASKS = tuple(TASKS)
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
        self._luts = self._label_maps()
        super().__init__(data_root, split=None, tasks=tasks, **kwargs)
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
            cfg = dict(DEFAULT_TASK_FOLDERS.get(task, {}), **overrides.get(task, {}))
            allowed = {"folder", "suffix"}
            if TASKS.get(task) is not None and TASKS[task].kind == "class":
                allowed |= {"ignore_index", "reduce_zero_label"}
            if task == "depth":
                allowed.add("scale")
            unknown = sorted(set(cfg) - allowed)
            if unknown:
                raise ValueError(
                    f"{where}[{task!r}] has unknown key(s) {unknown}; allowed: "
                    f"{sorted(allowed)}"
                )
            if task in TASK_SUFFIXES and cfg["suffix"] not in TASK_SUFFIXES[task]:
                raise ValueError(
                    f"{where}[{task!r}]: suffix {cfg['suffix']!r} is not supported; "
                    f"use one of {TASK_SUFFIXES[task]}"
                )
            if task == "depth" and cfg["suffix"] == ".png":
                if not cfg.get("scale", 0) > 0:
                    raise ValueError(
                        f"{where}['depth']: a .png depth needs `scale` > 0, the "
                        "stored value per metre (e.g. 1000 for millimetres)"
                    )
            folders[task] = cfg
        return folders

    def _add_palettes(self) -> None:
        for task, (names_key, palette_key) in CLASS_KEYS.items():
            if task not in self.tasks:
                continue
            names = self._metainfo.get(names_key)
            if not names:
                raise ValueError(
                    f"MultiTaskFolderDataset: task {task!r} needs its class names "
                    f"in metainfo[{names_key!r}]"
                )
            palette = self._metainfo.get(palette_key)
            if palette is None:
                self._metainfo[palette_key] = random_palette(
                    len(names), seed=len(names)
                )
            elif len(palette) != len(names):
                raise ValueError(
                    f"MultiTaskFolderDataset: metainfo[{palette_key!r}] has "
                    f"{len(palette)} colours for {len(names)} classes"
                )

    def _label_maps(self) -> Dict[str, List[int]]:
        """Per class task, the lookup table of its stored values (256)."""
        maps = {}
        for task, cfg in self._task_folders.items():
            if task not in CLASS_KEYS:
                continue
            lut = list(range(256))
            if cfg.get("reduce_zero_label", False):
                lut = [IGNORE_INDEX] + [v - 1 for v in range(1, 256)]
            ignore = cfg.get("ignore_index", IGNORE_INDEX)
            if not 0 <= ignore <= 255:
                raise ValueError(
                    f"MultiTaskFolderDataset: {task} ignore_index must be in "
                    f"0..255, got {ignore}"
                )
            lut[ignore] = IGNORE_INDEX
            if lut != list(range(256)):
                maps[task] = lut
        return maps

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
        num_classes = {
            task: len(self._metainfo[keys[0]])
            for task, keys in CLASS_KEYS.items()
            if task in self.tasks and self._metainfo.get(keys[0])
        }
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
        """The data info of ``idx`` plus the dataset-wide decoding options."""
        info = super().get_data_info(idx)
        info["label_maps"] = self._luts
        depth = self._task_folders.get("depth", {})
        if depth.get("suffix") == ".png":
            info["depth_scale"] = float(depth["scale"])
        return info
