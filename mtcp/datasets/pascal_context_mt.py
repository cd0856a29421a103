from mmseg.registry import DATASETS

from mtcp.tasks.human_parts import PART_CLASSES, PART_PALETTE

from .base_multitask_dataset import BaseMultiTaskDataset, voc_palette

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
        <data_root>/pascal-context/trainval/<id>.mat  edge: the context LabelMap
                                                      (or edge/<id>.png | .npy)
        <data_root>/ImageSets/Context/<split>.txt

    Semseg has 21 classes (background + 20 VOC classes, 255 ignore); parts 7
    (``part_classes``). Each data info holds ``img_path``, ``img_id``,
    ``tasks``, ``ann_paths``, ``reduce_zero_label=False`` and
    ``num_classes``. See :class:`BaseMultiTaskDataset` for the arguments.
    """

    DEFAULT_TASKS = ("semseg", "parts", "saliency")
    DATA_PREFIX = dict(
        img_path="JPEGImages",
        semseg=("semseg/pascal-context", "semseg/VOC12"),
        parts="human_parts",
        saliency="sal_distill",
        normals="normals_distill",
        edge=("pascal-context/trainval", "edge"),
    )
    IMG_SUFFIXES = (".jpg",)
    SPLIT_FILE = "ImageSets/Context/{split}.txt"
    METAINFO = dict(
        classes=VOC_CLASSES,
        palette=voc_palette(len(VOC_CLASSES)),
        part_classes=PART_CLASSES,
        part_palette=PART_PALETTE,
    )
