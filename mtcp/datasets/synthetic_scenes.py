from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS

from mtcp.structures import check_tasks
from mtcp.tasks.human_parts import PART_CLASSES, PART_PALETTE

from .base_multitask_dataset import random_palette, voc_palette
from .scene_renderer import NYUD_SCENE_CLASSES, PASCAL_SCENE_CLASSES, render_scene
from .seeded_sampling import SeededAugmentationMixin
from .transforms.loading import add_label_map

_TASK_SETS = {
    "nyud": dict(
        available=("semseg", "depth", "normals", "edge"),
        default=("semseg", "depth", "normals"),
        metainfo=dict(
            classes=NYUD_SCENE_CLASSES,
            palette=random_palette(len(NYUD_SCENE_CLASSES), seed=40),
        ),
    ),
    "pascal": dict(
        available=("semseg", "parts", "saliency", "normals", "edge"),
        default=("semseg", "parts", "saliency"),
        metainfo=dict(
            classes=PASCAL_SCENE_CLASSES,
            palette=voc_palette(len(PASCAL_SCENE_CLASSES)),
            part_classes=PART_CLASSES,
            part_palette=PART_PALETTE,
        ),
    ),
}


@DATASETS.register_module()
class SyntheticScenesDataset(SeededAugmentationMixin, BaseDataset):
    """Procedurally rendered indoor-like scenes, made in memory from a seed.

    Each item is a room (floor, walls, ceiling) with boxes and spheres and,
    for ``task_set='pascal'``, a person-like figure whose body parts give the
    parts map; see :func:`mtcp.datasets.scene_renderer.render_scene`. All
    labels come from the same ray-cast geometry. Item ``i`` is rendered from
    ``np.random.default_rng([seed, i])``, so it is the same in every epoch,
    worker and process, and nothing is read from disk. With
    :class:`~mtcp.datasets.SeededSampler` its random transforms are seeded
    from (seed, epoch, index) too.

    The pipeline starts *after* loading: the rendered arrays are already in
    ``results`` (``img`` BGR uint8, ``img_shape``, ``ori_shape``,
    ``img_path='synthetic://<task_set>/<seed>/<index>'``, ``tasks`` and each
    task's label map under its ``results_key``, listed in ``seg_fields``), so do not put
    ``LoadImageFromFile`` / ``LoadMultiTaskAnnotations`` in it; resize, crop,
    flip, photometric distortion, pad and pack apply unchanged.

    Args:
        task_set (str): 'nyud' (semseg, depth, normals, edge; classes wall,
            floor, ceiling, box, ball) or 'pascal' (semseg, parts, saliency,
            normals, edge; classes background, box, ball, person).
        num_samples (int): Length of the dataset.
        img_size (tuple[int, int]): (H, W) of the rendered images.
        seed (int): Seed of the scene set; train and val use different seeds.
        tasks (Sequence[str], optional): Tasks to provide; defaults to the
            task set's defaults (those of the matching real dataset).
        pipeline (Sequence[dict]): Transforms after loading.
        test_mode (bool): mmengine's test mode. Defaults to False.
        lazy_init (bool): mmengine's lazy initialisation. Defaults to False.
        metainfo (dict, optional): Overrides of the task set's metainfo.
    """

    def __init__(
        self,
        task_set: str = "nyud",
        num_samples: int = 100,
        img_size: Tuple[int, int] = (96, 128),
        seed: int = 0,
        tasks: Optional[Sequence[str]] = None,
        pipeline: Sequence[dict] = (),
        test_mode: bool = False,
        lazy_init: bool = False,
        metainfo: Optional[dict] = None,
    ) -> None:
        if task_set not in _TASK_SETS:
            raise ValueError(
                f"task_set must be one of {sorted(_TASK_SETS)}, got {task_set!r}"
            )
        if num_samples < 1:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        if len(img_size) != 2 or min(img_size) < 8:
            raise ValueError(f"img_size must be (H, W) >= 8, got {img_size}")
        spec = _TASK_SETS[task_set]
        self.task_set = task_set
        self.num_samples = int(num_samples)
        self.img_size = (int(img_size[0]), int(img_size[1]))
        self.seed = int(seed)
        self.tasks = check_tasks(
            spec["default"] if tasks is None else tasks,
            spec["available"],
            where="SyntheticScenesDataset.tasks",
        )
        super().__init__(
            metainfo={**spec["metainfo"], **(metainfo or {})},
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            serialize_data=False,
        )

    def load_data_list(self) -> List[dict]:
        # rendering happens per item in prepare_data; the list holds only ids
        return [
            dict(
                img_path=f"synthetic://{self.task_set}/{self.seed}/{index}",
                scene_index=index,
                tasks=list(self.tasks),
            )
            for index in range(self.num_samples)
        ]

    def render(self, index: int) -> dict:
        """The results dict of item ``index`` before the pipeline."""
        data_info = self.get_data_info(index)
        height, width = self.img_size
        scene = render_scene(
            np.random.default_rng([self.seed, data_info["scene_index"]]),
            height,
            width,
            self.task_set,
        )
        data_info.update(img=scene["img"], img_shape=(height, width))
        data_info["ori_shape"] = (height, width)
        for task in self.tasks:
            add_label_map(data_info, task, scene[task])
        return data_info

    def prepare_data(self, idx: int):
        return self.pipeline(self.render(idx))
