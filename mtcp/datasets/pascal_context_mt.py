import os.path as osp
from typing import List

from mmengine import fileio
from mmseg.registry import DATASETS

from .base_multitask_dataset import BaseMultiTaskDataset, voc_palette
from .human_parts import PART_CLASSES, PART_PALETTE

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus",
    "car", "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike",
    "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip


@DATASETS.register_module()
class PascalContextMTDataset(BaseMultiTaskDataset):
    """PASCAL-Context multi-task package "PASCAL_MT".

    Layout::

        <data_root>/JPEGImages/<id>.jpg
        <data_root>/semseg/pascal-context/<id>.png   (older copies: semseg/VOC12/)
        <data_root>/human_parts/<id>.mat             PASCAL-Part, 6-part grouping
        <data_root>/sal_distill/<id>.png             saliency = v / 255 > 0.5
        <data_root>/normals_distill/<id>.png         2 * v / 255 - 1
        <data_root>/edge/<id>.npy | .png             (our layout, see docs/data.md)
        <data_root>/ImageSets/Context/<split>.txt

    Semseg has 21 classes (background + 20 VOC classes, 255 ignore); parts 7
    (``part_classes``). Each data info holds ``img_path``, ``img_id``,
    ``tasks``, ``ann_paths``, ``reduce_zero_label=False`` and
    ``num_classes``. See :class:`BaseMultiTaskDataset` for the arguments.
    """

    AVAILABLE_TASKS = ("semseg", "parts", "saliency", "normals", "edge")
    DEFAULT_TASKS = ("semseg", "parts", "saliency")
    METAINFO = dict(
        classes=VOC_CLASSES,
        palette=voc_palette(len(VOC_CLASSES)),
        part_classes=PART_CLASSES,
        part_palette=PART_PALETTE,
    )

    _TASK_FILES = {
        "parts": ("human_parts", (".mat",)),
        "saliency": ("sal_distill", (".png",)),
        "normals": ("normals_distill", (".png",)),
        "edge": ("edge", (".npy", ".png")),
    }

    def _semseg_dir(self) -> str:
        for rel_dir in ("semseg/pascal-context", "semseg/VOC12"):
            path = osp.join(self.data_root, rel_dir)
            if fileio.isdir(path, backend_args=self.backend_args):
                return rel_dir
        raise FileNotFoundError(
            f"PascalContextMTDataset: neither {self.data_root}/semseg/pascal-context "
            "nor semseg/VOC12 exists; the semseg task needs one of them"
        )

    def load_data_list(self) -> List[dict]:
        ids = self._read_split(osp.join("ImageSets", "Context", f"{self.split}.txt"))
        img_paths = self._find_files(ids, "JPEGImages", (".jpg",), "image")
        task_files = dict(self._TASK_FILES)
        if "semseg" in self.tasks:
            task_files["semseg"] = (self._semseg_dir(), (".png",))
        return self._data_infos(ids, img_paths, task_files)
