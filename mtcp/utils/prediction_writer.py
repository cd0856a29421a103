"""The one writer of prediction files (metric ``output_dir``, test ``--out``,
inference): ``<out_dir>/<task>/<name>.<ext>`` in the format of the task's
kind (:meth:`mtcp.tasks.BaseTaskKind.write`): class maps as uint8 ``.png``
(plus one with ``reduce_zero_label``), depth as float32 ``.npy`` metres,
normals as RGB ``.png`` with ``v = 255 (n + 1) / 2``, binary maps and
boundaries as uint8 ``.png`` of ``255 p``.
"""

import os.path as osp
from typing import Dict, List

import torch
from mmengine.utils import mkdir_or_exist

from mtcp.tasks import task_kind


def write_prediction(
    task: str, data: torch.Tensor, path_stem: str, reduce_zero_label: bool = False
) -> str:
    """Write one task's prediction ``pred_<field>.data`` (C, H, W).

    Args:
        task (str): Task name.
        data (Tensor): The prediction, (C, H, W).
        path_stem (str): Output path without the extension.
        reduce_zero_label (bool): The dataset stores classes as 1..K with 0
            unlabelled (NYUD-v2): class maps are saved plus one.

    Returns:
        str: The written file.
    """
    array = data.detach().cpu().numpy()
    return task_kind(task).write(array, path_stem, reduce_zero_label)


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


__all__ = ["write_prediction", "write_predictions"]
