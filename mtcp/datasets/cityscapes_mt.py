"""Cityscapes as a multi-task benchmark: semantic segmentation and depth."""

import os.path as osp
from typing import Dict, List, Optional, Sequence, Set

from mmseg.datasets import CityscapesDataset
from mmseg.registry import DATASETS

from mtcp.structures import IGNORE_INDEX

from .base_multitask_dataset import BaseMultiTaskDataset
from .multitask_folder import list_files, resolve_labels

# Cityscapes label id -> train id of the 19 evaluated classes (road, sidewalk,
# building, wall, fence, pole, traffic light, traffic sign, vegetation,
# terrain, sky, person, rider, car, truck, bus, train, motorcycle, bicycle);
# every other id is ignored.
LABEL_ID_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip

IMG_SUFFIX = "_leftImg8bit.png"
TRAIN_ID_SUFFIX = "_gtFine_labelTrainIds.png"
LABEL_ID_SUFFIX = "_gtFine_labelIds.png"
DISPARITY_SUFFIX = "_disparity.png"
CAMERA_SUFFIX = "_camera.json"


def label_id_lut() -> List[int]:
    """The 256-entry lookup table mapping label ids to train ids (else 255)."""
    lut = [IGNORE_INDEX] * 256
    for label_id, train_id in LABEL_ID_TO_TRAIN_ID.items():
        lut[label_id] = train_id
    return lut


@DATASETS.register_module()
class CityscapesMTDataset(BaseMultiTaskDataset):
    """Cityscapes in its official layout, for semseg (19 classes) and depth.

    Layout (``<base>`` = ``<city>_<seq>_<frame>``)::

        <data_root>/leftImg8bit/<split>/<city>/<base>_leftImg8bit.png
        <data_root>/gtFine/<split>/<city>/<base>_gtFine_labelTrainIds.png
                                  (or <base>_gtFine_labelIds.png, 34 -> 19)
        <data_root>/disparity/<split>/<city>/<base>_disparity.png
        <data_root>/camera/<split>/<city>/<base>_camera.json

    Semseg uses mmseg's Cityscapes class names and palette; the
    ``labelTrainIds`` file is used when present (made by cityscapesScripts
    or mmseg's ``tools/dataset_converters/cityscapes.py``), otherwise the
    ``labelIds`` file mapped to train ids. Depth is in metres, ``baseline *
    fx / disparity`` with ``disparity = (p - 1) / 256`` for a stored value
    ``p > 1`` and the camera's ``extrinsic.baseline`` and ``intrinsic.fx``;
    ``p = 0`` (no measurement) is invalid.

    Each data info holds ``img_path``, ``img_id``, ``tasks``, ``ann_paths``,
    ``num_classes``, and ``label_options`` for the loader: depth's
    ``camera_path``, semseg's ``label_map`` for a ``labelIds`` file.

    Args:
        data_root (str): Root holding ``leftImg8bit/`` etc.
        split (str): 'train' or 'val'.
        tasks (Sequence[str], optional): Subset of ('semseg', 'depth');
            defaults to both.
        allow_missing_labels (bool): An image without its label (or, for
            depth, disparity or camera) file gets an all-ignore map for that
            task instead of an error. Defaults to False.
        **kwargs: See :class:`BaseMultiTaskDataset`.
    """

    DEFAULT_TASKS = ("semseg", "depth")
    # each folder holds <split>/<city>/ sub-folders; depth also needs the
    # sibling camera/ folder
    DATA_PREFIX = dict(img_path="leftImg8bit", semseg="gtFine", depth="disparity")
    METAINFO = dict(
        classes=CityscapesDataset.METAINFO["classes"],
        palette=CityscapesDataset.METAINFO["palette"],
    )

    def __init__(
        self,
        data_root: str,
        split: str = "train",
        tasks: Optional[Sequence[str]] = None,
        allow_missing_labels: bool = False,
        **kwargs,
    ) -> None:
        self.allow_missing_labels = allow_missing_labels
        self.label_counts: Dict[str, int] = {}
        self._label_id_lut = label_id_lut()
        super().__init__(data_root, split=split, tasks=tasks, **kwargs)

    def _files(self, folder: str, suffixes: Sequence[str]) -> Set[str]:
        """Paths of the files of ``<folder>/<split>`` (recursive)."""
        rel_dir = osp.join(folder, self.split)
        return {
            osp.join(self.data_root, rel_dir, f)
            for f in list_files(self.data_root, rel_dir, suffixes, self.backend_args)
        }

    def load_data_list(self) -> List[dict]:
        root = self.data_root
        img_dir = osp.join(self.data_prefix["img_path"], self.split)
        img_files = list_files(root, img_dir, (IMG_SUFFIX,), self.backend_args)
        if not img_files:
            raise FileNotFoundError(
                f"CityscapesMTDataset: no *{IMG_SUFFIX} under {osp.join(root, img_dir)}"
            )
        stems = [f[: -len(IMG_SUFFIX)] for f in img_files]

        def paths(folder: str, suffix: str) -> List[str]:
            return [osp.join(root, folder, self.split, s + suffix) for s in stems]

        expected, present = {}, {}
        if "semseg" in self.tasks:
            gt_dir = self.data_prefix["semseg"]
            gt_files = self._files(gt_dir, (TRAIN_ID_SUFFIX, LABEL_ID_SUFFIX))
            expected["semseg"] = [
                train_id
                if train_id in gt_files or label_id not in gt_files
                else label_id
                for train_id, label_id in zip(
                    paths(gt_dir, TRAIN_ID_SUFFIX), paths(gt_dir, LABEL_ID_SUFFIX)
                )
            ]
            present["semseg"] = gt_files
        if "depth" in self.tasks:
            cameras = self._files("camera", (CAMERA_SUFFIX,))
            camera_paths = paths("camera", CAMERA_SUFFIX)
            expected["depth"] = paths(self.data_prefix["depth"], DISPARITY_SUFFIX)
            missing_cameras = [c for c in camera_paths if c not in cameras]
            if missing_cameras and not self.allow_missing_labels:
                raise FileNotFoundError(
                    f"CityscapesMTDataset: {len(missing_cameras)} of "
                    f"{len(camera_paths)} images have no camera file, e.g. "
                    f"{missing_cameras[0]}"
                )
            # depth is known only where both the disparity and the camera exist
            present["depth"] = {
                d for d, c in zip(expected["depth"], camera_paths) if c in cameras
            } & self._files(self.data_prefix["depth"], (DISPARITY_SUFFIX,))
        labels = resolve_labels(
            type(self).__name__, expected, present, self.allow_missing_labels
        )
        self.label_counts = {
            task: sum(p is not None for p in found) for task, found in labels.items()
        }
        num_classes = self.class_counts()
        data_list = []
        for i, (stem, img_file) in enumerate(zip(stems, img_files)):
            info = dict(
                img_path=osp.join(root, img_dir, img_file),
                img_id=stem,
                tasks=list(self.tasks),
                ann_paths={task: found[i] for task, found in labels.items()},
                num_classes=num_classes,
            )
            if info["ann_paths"].get("depth") is not None:
                camera = osp.join(root, "camera", self.split, stem + CAMERA_SUFFIX)
                info["label_options"] = dict(depth=dict(camera_path=camera))
            data_list.append(info)
        return data_list

    def get_data_info(self, idx: int) -> dict:
        """The data info of ``idx``; ``labelIds`` files get the 34 -> 19 map."""
        info = super().get_data_info(idx)
        semseg = info["ann_paths"].get("semseg")
        if semseg is not None and semseg.endswith(LABEL_ID_SUFFIX):
            options = info.setdefault("label_options", {})
            options["semseg"] = dict(label_map=self._label_id_lut)
        return info
