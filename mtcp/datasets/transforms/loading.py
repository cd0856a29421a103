from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmseg.registry import TRANSFORMS

from mtcp.structures import TASKS
from mtcp.tasks import task_kind


@TRANSFORMS.register_module()
class LoadMultiTaskAnnotations(BaseTransform):
    """Load the label map of every task in ``results['tasks']``.

    Runs after mmcv's ``LoadImageFromFile``: every map is checked against the
    original image size (``ori_shape``), so it may also follow a test-time
    resize of the image. The dataset puts the file of each task in
    ``results['ann_paths'][task]``; the task's kind decodes and checks it
    (:meth:`mtcp.tasks.BaseTaskKind.decode`, by the file's suffix), e.g.
    class maps from ``.png`` (PASCAL-Part human parts also from ``.mat``),
    depth from ``.npy`` metres or scaled / Cityscapes-disparity ``.png``,
    normals from ``.npy`` or ``.png``, binary maps and boundaries from
    ``.png`` / ``.npy`` binarised at 0.5 (docs/data.md lists every format).
    A task whose file is ``None`` (an image without that label, see
    ``allow_missing_labels`` of the folder datasets) gets the kind's
    all-ignore map.

    The kind receives as options the ``task``, the image ``shape``, its class count
    (``results['num_classes']``), the dataset's ``reduce_zero_label``, the
    file ``backend_args`` and the task's entry of
    ``results['label_options']`` (e.g. a class map's ``label_map`` or a
    depth PNG's ``scale``).

    Required Keys: img, tasks, ann_paths, (reduce_zero_label, num_classes,
    label_options).

    Added Keys: the ``results_key`` of every task (see :data:`mtcp.tasks.TASKS`),
    also listed in ``seg_fields`` (see :func:`add_label_map`).

    Args:
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = backend_args.copy() if backend_args else None

    def transform(self, results: dict) -> dict:
        if "img" not in results:
            raise KeyError(
                "LoadMultiTaskAnnotations needs results['img']: put mmcv's "
                "LoadImageFromFile before it in the pipeline"
            )
        # labels are read at the original image size, also when the image was
        # resized before them (test pipelines evaluate at the original size)
        shape = tuple(results.get("ori_shape", results["img"].shape[:2]))
        ann_paths: Dict[str, str] = results["ann_paths"]
        for task in results["tasks"]:
            if task not in ann_paths:
                raise KeyError(
                    f"{results.get('img_path')}: no annotation file for task "
                    f"{task!r} in results['ann_paths'] ({sorted(ann_paths)})"
                )
            kind = task_kind(task)
            path = ann_paths[task]
            if path is None:
                add_label_map(results, task, kind.missing_label(shape, TASKS[task]))
                continue
            options = dict(
                results.get("label_options", {}).get(task, {}),
                task=task,
                shape=shape,
                num_classes=results.get("num_classes", {}).get(task),
                reduce_zero_label=results.get("reduce_zero_label", False),
                backend_args=self.backend_args,
            )
            content = fileio.get(path, backend_args=self.backend_args)
            label = kind.decode(content, path, options)
            if label.shape[:2] != shape:
                raise ValueError(
                    f"{path}: {task} label map has size {label.shape[:2]}, "
                    f"expected the image size {shape} of {results['img_path']}"
                )
            add_label_map(results, task, label)
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(backend_args={self.backend_args})"


def add_label_map(results: dict, task: str, label: np.ndarray) -> None:
    """Store ``task``'s label map and register it in ``results['seg_fields']``.

    mmseg's geometric transforms (``RandomCrop``, ``RandomFlip``, ...) move
    every map listed in ``seg_fields``; the multi-task ones follow it too.
    """
    key = TASKS[task].results_key
    results[key] = label
    seg_fields = results.setdefault("seg_fields", [])
    if key not in seg_fields:
        seg_fields.append(key)
