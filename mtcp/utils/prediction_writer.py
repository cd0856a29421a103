"""The one writer of prediction files (metric ``output_dir``, test ``--out``,
inference).

Formats, for an image ``<name>``, in ``<out_dir>/<task>/``:

- class maps: ``<name>.png``, class indices (uint8), plus one for semseg when
  the dataset stores 1..K (NYUD);
- depth: ``<name>.npy``, metres (H, W) float32;
- normals: ``<name>.png``, ``v = 255 (n + 1) / 2``, x y z in R G B;
- binary maps: ``<name>.png``, probability * 255 (uint8).

A task kind's format is the writer registered for it with
:func:`register_writer`.
"""

import os.path as osp
from typing import Callable, Dict, List

import numpy as np
import torch
from mmengine.utils import mkdir_or_exist
from PIL import Image

from mtcp.structures import TASKS

Writer = Callable[[str, np.ndarray, str, bool], str]
_WRITERS: Dict[str, Writer] = {}


def register_writer(kind: str) -> Callable[[Writer], Writer]:
    """Register ``fn(task, array, path_stem, reduce_zero_label) -> path``."""

    def register(fn: Writer) -> Writer:
        _WRITERS[kind] = fn
        return fn

    return register


def _save_png(array: np.ndarray, path_stem: str) -> str:
    path = f"{path_stem}.png"
    Image.fromarray(np.clip(np.round(array), 0, 255).astype(np.uint8)).save(path)
    return path


@register_writer("class")
def _write_classes(
    task: str, array: np.ndarray, path_stem: str, reduce_zero_label: bool
) -> str:
    if task == "semseg" and reduce_zero_label:
        array = array + 1
    if array.min() < 0 or array.max() > 255:
        raise ValueError(
            f"{task} prediction has class indices outside 0..255; cannot save it "
            "as a PNG"
        )
    return _save_png(array[0], path_stem)


@register_writer("depth")
def _write_depth(task: str, array: np.ndarray, path_stem: str, _: bool) -> str:
    path = f"{path_stem}.npy"
    np.save(path, array[0].astype(np.float32))
    return path


@register_writer("normals")
def _write_normals(task: str, array: np.ndarray, path_stem: str, _: bool) -> str:
    return _save_png((array.transpose(1, 2, 0) + 1) * 127.5, path_stem)


@register_writer("binary")
def _write_probability(task: str, array: np.ndarray, path_stem: str, _: bool) -> str:
    return _save_png(array[0] * 255, path_stem)


def write_prediction(
    task: str, data: torch.Tensor, path_stem: str, reduce_zero_label: bool = False
) -> str:
    """Write one task's prediction ``pred_<field>.data`` (C, H, W).

    Args:
        task (str): Task name.
        data (Tensor): (1, H, W) or (3, H, W) prediction.
        path_stem (str): Output path without the extension.
        reduce_zero_label (bool): Save semseg classes plus one (NYUD's 1..40).

    Returns:
        str: The written file.
    """
    kind = TASKS[task].kind
    if kind not in _WRITERS:
        raise KeyError(f"no prediction writer for task kind {kind!r} of {task!r}")
    array = data.detach().cpu().numpy()
    return _WRITERS[kind](task, array, path_stem, reduce_zero_label)


def write_predictions(
    preds: Dict[str, torch.Tensor],
    out_dir: str,
    name: str,
    reduce_zero_label: bool = False,
) -> List[str]:
    """Write ``task -> prediction`` as ``out_dir/<task>/<name>.<ext>``."""
    files = []
    for task, data in preds.items():
        mkdir_or_exist(osp.join(out_dir, task))
        stem = osp.join(out_dir, task, name)
        files.append(write_prediction(task, data, stem, reduce_zero_label))
    return files


__all__ = [
    "register_writer",
    "write_prediction",
    "write_predictions",
]
