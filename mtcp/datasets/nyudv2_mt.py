from mmseg.registry import DATASETS

from .base_multitask_dataset import BaseMultiTaskDataset, random_palette

NYU40_CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door",
    "window", "bookshelf", "picture", "counter", "blinds", "desk", "shelves",
    "curtain", "dresser", "pillow", "mirror", "floor mat", "clothes", "ceiling",
    "books", "refridgerator", "television", "paper", "towel", "shower curtain",
    "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
    "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
)  # fmt: skip


@DATASETS.register_module()
class NYUDv2MTDataset(BaseMultiTaskDataset):
    """NYUD-v2 multi-task package (semseg, depth, normals, edge).

    Layout (both published variants; the one present is detected per file,
    the first suffix of the task's kind winning)::

        <data_root>/images/<id>.jpg | .png
        <data_root>/segmentation/<id>.png    0 unlabeled -> 255, 1..40 -> 0..39
        <data_root>/depth/<id>.npy           float32 metres, 0 invalid
        <data_root>/normals/<id>.npy | .png
        <data_root>/edge/<id>.npy | .png
        <data_root>/gt_sets/<split>.txt      one id per line

    Each data info holds ``img_path``, ``img_id``, ``tasks``, ``ann_paths``
    (task -> file), ``reduce_zero_label=True`` and ``num_classes``, read by
    ``LoadImageFromFile`` + ``LoadMultiTaskAnnotations``. See
    :class:`BaseMultiTaskDataset` for the arguments.
    """

    DEFAULT_TASKS = ("semseg", "depth", "normals")
    DATA_PREFIX = dict(
        img_path="images",
        semseg="segmentation",
        depth="depth",
        normals="normals",
        edge="edge",
    )
    SPLIT_FILE = "gt_sets/{split}.txt"
    REDUCE_ZERO_LABEL = True
    METAINFO = dict(classes=NYU40_CLASSES, palette=random_palette(40, seed=40))
