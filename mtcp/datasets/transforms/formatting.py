from typing import Iterator, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.registry import TRANSFORMS

from mtcp.structures import TASKS, MultiTaskDataSample, TaskInfo
from mtcp.tasks import task_kind


def task_maps(results: dict) -> Iterator[Tuple[TaskInfo, str]]:
    """Yield (task info, results key) of the tasks in ``results['tasks']``.

    Raises:
        KeyError: a task without its label map, which also catches a label
            loaded after a crop or flip by its size.
    """
    for task in results.get("tasks", []):
        info = TASKS[task]
        if info.results_key not in results:
            raise KeyError(
                f"{results.get('img_path')}: task {task!r} has no label map "
                f"results[{info.results_key!r}]; load it in the pipeline"
            )
        yield info, info.results_key


@TRANSFORMS.register_module()
class PackMultiTaskInputs(BaseTransform):
    """Pack the image and every task's label map for the model.

    Produces ``dict(inputs, data_samples)``: ``inputs`` is the (3, H, W) uint8
    BGR image tensor; ``data_samples`` a :class:`MultiTaskDataSample` with one
    ``gt_<field>`` per task in ``results['tasks']``: class and binary maps
    (1, H, W) int64, depth (1, H, W) float32, normals (3, H, W) float32.
    Each map has the image's size, or the original size ``ori_shape`` when a
    test pipeline loads the labels after resizing the image (as in mmseg).

    Args:
        meta_keys (Sequence[str]): Keys of ``results`` copied into the data
            sample's meta information when present. ``reduce_zero_label``
            lets the metric save semseg predictions in the dataset's own
            label convention (NYUD: 1..40).
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = (
            "img_path",
            "ori_shape",
            "img_shape",
            "pad_shape",
            "scale_factor",
            "flip",
            "flip_direction",
            "tasks",
            "reduce_zero_label",
        ),
    ) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results["img"]
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(
                f"{results.get('img_path')}: expected a (H, W, 3) uint8 image, "
                f"got {img.shape} {img.dtype}"
            )
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        data_sample = MultiTaskDataSample()
        for info, key in task_maps(results):
            label = results[key]
            # training maps follow the image; test pipelines load them after
            # the resize, at the original size where metrics are computed
            allowed = {img.shape[:2], tuple(results.get("ori_shape", img.shape[:2]))}
            if label.shape[:2] not in allowed:
                raise ValueError(
                    f"{results.get('img_path')}: {info.name} label map has size "
                    f"{label.shape[:2]}, expected the image size {img.shape[:2]} "
                    f"or the original size {results.get('ori_shape')}"
                )
            data = task_kind(info.name).pack(label)
            data_sample.set_gt(info.name, PixelData(data=data))
        data_sample.set_metainfo(
            {key: results[key] for key in self.meta_keys if key in results}
        )
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(meta_keys={self.meta_keys})"
