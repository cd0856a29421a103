import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine import fileio
from mmengine.dataset import BaseDataset

from mtcp.structures import TASKS, check_tasks
from mtcp.tasks import task_kind

from .seeded_sampling import SeededAugmentationMixin


class BaseMultiTaskDataset(SeededAugmentationMixin, BaseDataset):
    """Common part of the on-disk multi-task datasets.

    A subclass describes its package: ``DATA_PREFIX`` (the folder of the
    images, ``img_path``, and of each task's labels, relative to the data
    root; a tuple lists alternative folders, the first present wins),
    ``IMG_SUFFIXES``, ``SPLIT_FILE`` (with ``{split}``), ``DEFAULT_TASKS``
    and ``METAINFO``. Label files are ``<folder>/<id><suffix>`` with the
    suffixes the task's kind reads, the first present winning. Subclasses
    with another layout override :meth:`load_data_list`. Initialisation
    only reads the split file and lists each annotation folder once: which
    files exist is checked there, their content by the loading transforms
    (or ``check_dataset.py``). With :class:`~mtcp.datasets.SeededSampler`
    the random transforms of an item are seeded from (seed, epoch, index).

    Args:
        data_root (str): Root of the dataset package.
        split (str): 'train' or 'val'.
        tasks (Sequence[str], optional): Tasks whose labels are loaded; any
            of the tasks of ``data_prefix``. Defaults to ``DEFAULT_TASKS``.
        data_prefix (dict, optional): Overrides of ``DATA_PREFIX``, e.g.
            ``dict(edge='my_edges')``; a new task adds its folder here.
        pipeline (Sequence[dict]): Transforms.
        test_mode (bool): mmengine's test mode. Defaults to False.
        lazy_init (bool): Defer the listing to the first use.
        serialize_data (bool): Serialise the data list (saves memory with
            many workers). Defaults to True.
        indices (int | Sequence[int], optional): Keep only these entries.
        metainfo (dict, optional): Overrides of ``METAINFO``.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    DEFAULT_TASKS: Sequence[str] = ()
    DATA_PREFIX: Dict[str, Union[str, Tuple[str, ...]]] = {}
    IMG_SUFFIXES: Tuple[str, ...] = (".jpg", ".png")
    SPLIT_FILE = ""
    #: Stored class labels are 1..K with 0 unlabelled (NYUD); predictions
    #: are saved in the same convention.
    REDUCE_ZERO_LABEL = False
    SPLITS = ("train", "val")

    def __init__(
        self,
        data_root: str,
        split: str = "train",
        tasks: Optional[Sequence[str]] = None,
        data_prefix: Optional[dict] = None,
        pipeline: Sequence[dict] = (),
        test_mode: bool = False,
        lazy_init: bool = False,
        serialize_data: bool = True,
        indices: Optional[Sequence[int]] = None,
        metainfo: Optional[dict] = None,
        backend_args: Optional[dict] = None,
    ) -> None:
        if split not in self.SPLITS:
            raise ValueError(f"split must be one of {self.SPLITS}, got {split!r}")
        self.split = split
        self.backend_args = backend_args.copy() if backend_args else None
        if not fileio.isdir(data_root, backend_args=self.backend_args):
            raise FileNotFoundError(
                f"{type(self).__name__}: data_root {data_root!r} is not a directory"
                + _resolved_from(data_root)
            )
        layout = dict(self.DATA_PREFIX, **(data_prefix or {}))
        self.tasks = check_tasks(
            self.DEFAULT_TASKS if tasks is None else tasks,
            [name for name in layout if name in TASKS],
            where=f"{type(self).__name__}.tasks",
        )
        prefix = {
            key: self._first_present(data_root, folders, key)
            for key, folders in layout.items()
            if key == "img_path" or key in self.tasks
        }
        super().__init__(
            data_root=data_root,
            metainfo=metainfo,
            data_prefix=prefix,
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            serialize_data=serialize_data,
            indices=indices,
        )

    @classmethod
    def task_folders(cls) -> Dict[str, Tuple[str, ...]]:
        """The label folder(s) of each task of ``DATA_PREFIX``."""
        return {
            key: (folders,) if isinstance(folders, str) else tuple(folders)
            for key, folders in cls.DATA_PREFIX.items()
            if key != "img_path"
        }

    def _first_present(self, data_root: str, folders, key: str) -> str:
        """The folder of ``key``, or the first of alternative folders that
        exists under ``data_root``."""
        if isinstance(folders, str):
            return folders
        for folder in folders:
            if fileio.isdir(
                osp.join(data_root, folder), backend_args=self.backend_args
            ):
                return folder
        raise FileNotFoundError(
            f"{type(self).__name__}: none of the {key} folders "
            f"{[osp.join(data_root, f) for f in folders]} exists"
        )

    def class_counts(self) -> Dict[str, int]:
        """The class count of every class task whose class names the
        metainfo holds (``TaskInfo.classes_key``)."""
        return {
            task: len(self.metainfo[info.classes_key])
            for task, info in TASKS.items()
            if info.classes_key in self.metainfo
        }

    def load_data_list(self) -> List[dict]:
        """One data info per id of the split file: ``img_path``, ``img_id``,
        ``tasks``, ``ann_paths`` (task -> file), ``reduce_zero_label`` and
        ``num_classes``."""
        ids = self._read_split(self.SPLIT_FILE.format(split=self.split))
        img_paths = self._find_files(
            ids, self.data_prefix["img_path"], self.IMG_SUFFIXES, "image"
        )
        ann_paths = {
            task: self._find_files(
                ids, self.data_prefix[task], task_kind(task).suffixes, task
            )
            for task in self.tasks
        }
        num_classes = self.class_counts()
        return [
            dict(
                img_path=img_path,
                img_id=img_id,
                tasks=list(self.tasks),
                ann_paths={task: paths[i] for task, paths in ann_paths.items()},
                reduce_zero_label=self.REDUCE_ZERO_LABEL,
                num_classes=num_classes,
            )
            for i, (img_id, img_path) in enumerate(zip(ids, img_paths))
        ]

    def _read_split(self, rel_path: str) -> List[str]:
        path = osp.join(self.data_root, rel_path)
        if not fileio.exists(path, backend_args=self.backend_args):
            raise FileNotFoundError(
                f"split file {path} not found; expected one image id per line"
            )
        ids = [
            line.strip()
            for line in fileio.get_text(path, backend_args=self.backend_args).split(
                "\n"
            )
            if line.strip()
        ]
        if not ids:
            raise ValueError(f"split file {path} lists no image id")
        check_unique_ids(ids, path)
        return ids

    def filter_data(self) -> List[dict]:
        """mmengine's hook after :meth:`load_data_list`: also refuse empty
        (0-byte) local image and label files, before any training step."""
        data_list = super().filter_data()
        if self.backend_args is None:
            check_no_empty_files(data_list, type(self).__name__)
        return data_list

    def _list_dir(self, rel_dir: str) -> Dict[str, List[str]]:
        """Map each file stem in ``rel_dir`` to the extensions present."""
        path = osp.join(self.data_root, rel_dir)
        if not fileio.isdir(path, backend_args=self.backend_args):
            return {}
        stems: Dict[str, List[str]] = {}
        for name in fileio.list_dir_or_file(
            path, list_dir=False, backend_args=self.backend_args
        ):
            stem, ext = osp.splitext(name)
            stems.setdefault(stem, []).append(ext.lower())
        return stems

    def _find_files(
        self, ids: Sequence[str], rel_dir: str, exts: Sequence[str], what: str
    ) -> List[str]:
        """Paths of ``<rel_dir>/<id><ext>`` for every id, the first of ``exts``
        present winning; any missing id is an error naming its file."""
        listing = self._list_dir(rel_dir)
        paths, missing = [], []
        for img_id in ids:
            present = listing.get(img_id, ())
            ext = next((e for e in exts if e in present), None)
            if ext is None:
                missing.append(img_id)
                continue
            paths.append(osp.join(self.data_root, rel_dir, img_id + ext))
        if missing:
            expected = osp.join(
                self.data_root, rel_dir, f"{missing[0]}{{{','.join(exts)}}}"
            )
            raise FileNotFoundError(
                f"{type(self).__name__}: {len(missing)} of {len(ids)} ids of the "
                f"{self.split} split have no {what} file, e.g. {expected}"
            )
        return paths


def check_unique_ids(ids: Sequence[str], path: str) -> None:
    """Raise ``ValueError`` naming the ids a split file lists more than once
    (each would be trained on and scored twice)."""
    lines: Dict[str, List[int]] = {}
    for number, img_id in enumerate(ids, start=1):
        lines.setdefault(img_id, []).append(number)
    repeated = {i: n for i, n in lines.items() if len(n) > 1}
    if repeated:
        shown = "; ".join(
            f"{img_id!r} at entries {numbers}"
            for img_id, numbers in list(repeated.items())[:5]
        )
        raise ValueError(
            f"split file {path} lists {len(repeated)} id(s) more than once "
            f"({shown}); each id must appear once"
        )


def check_no_empty_files(data_list: Sequence[dict], dataset: str) -> None:
    """Raise ``ValueError`` naming the local image and label files that are
    empty (0 bytes): they cannot be decoded."""
    empty = []
    for info in data_list:
        paths = [info.get("img_path")] + list(info.get("ann_paths", {}).values())
        empty += [p for p in paths if p and osp.isfile(p) and osp.getsize(p) == 0]
    if empty:
        raise ValueError(
            f"{dataset}: {len(empty)} file(s) are empty (0 bytes), e.g. "
            f"{', '.join(empty[:5])}; replace them or drop their ids from the "
            "split file"
        )


def voc_palette(num_classes: int) -> List[List[int]]:
    """The PASCAL VOC colour map: the bits of the class index spread over RGB."""
    palette = []
    for index in range(num_classes):
        rgb, code = [0, 0, 0], index
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((code >> channel) & 1) << shift
            code >>= 3
        palette.append(rgb)
    return palette


def random_palette(num_classes: int, seed: int) -> List[List[int]]:
    """A fixed pseudo-random palette (mmseg's choice for datasets without one)."""
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(num_classes, 3)).tolist()


def _resolved_from(path: str) -> str:
    """For a relative path, the directory it was resolved from."""
    if osp.isabs(path) or "://" in path:
        return ""
    return f" (a relative path, resolved from the working directory {os.getcwd()})"
