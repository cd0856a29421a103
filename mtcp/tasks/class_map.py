"""Class maps (semantic segmentation): one class index per pixel."""

import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
import torch

from .base_kind import BaseTaskKind, stacked
from .label_io import as_hw, read_png, save_png
from .legend import Legend
from .registry import TASK_KINDS
from .task_table import IGNORE_INDEX, TaskInfo


@TASK_KINDS.register_module()
class ClassMap(BaseTaskKind):
    """A class index per pixel, 255 = unlabelled (semseg, human parts).

    - Files: uint8 ``.png`` of class indices (palette indices, not colours).
      The dataset's ``reduce_zero_label`` reads 0 as unlabelled and 1..K as
      0..K-1 (NYUD-v2); a task's ``label_map`` (256 entries) remaps stored
      values (Cityscapes label ids, the folder dataset's ``ignore_index``);
      values must then be below the class count or 255.
    - Transforms: nearest-neighbour resize, plain flips, padded with 255.
    - Model: one channel per class, cross-entropy with ignore 255; the
      prediction is the argmax (1, H, W) int64 plus the logits on the
      original image, ``<field>_logits`` (C, H, W), mmseg's ``seg_logits``;
      test-time augmentation averages the class probabilities.
    - Metric: mIoU, aAcc, mAcc (:class:`SegmentationMeter`); Delta_m uses
      mIoU. Saved as uint8 ``.png`` (plus one with ``reduce_zero_label``).

    Folder dataset options: ``ignore_index`` (stored value of unlabelled
    pixels), ``reduce_zero_label``.
    """

    takes_classes = True
    suffixes = (".png",)
    default_loss = dict(type="TaskCrossEntropyLoss")
    delta_m = ("mIoU", False)
    metric_options = ("absent_class",)
    label_options = ("ignore_index", "reduce_zero_label")
    overlay = True
    export_format = "class"

    def decode(self, content: bytes, path: str, options: dict) -> np.ndarray:
        if osp.splitext(path)[1].lower() != ".png":
            raise self.unsupported(path)
        seg = read_png(content, path)
        if options.get("reduce_zero_label", False):
            # uint8 wrap-around maps 0 - 1 to 255, the ignore index
            seg = seg - np.uint8(1)
        lut = options.get("label_map")
        if lut is not None:
            seg = np.asarray(lut, dtype=np.uint8)[seg]
        num_classes = options.get("num_classes")
        if num_classes is not None:
            counts = np.bincount(seg.ravel(), minlength=IGNORE_INDEX + 1)
            bad = np.flatnonzero(counts[num_classes:IGNORE_INDEX]) + num_classes
            if bad.size:
                raise ValueError(
                    f"{path}: {options.get('task', self.name)} label values "
                    f"{bad.tolist()} out of range; expected 0..{num_classes - 1} "
                    f"or {IGNORE_INDEX} (ignore)"
                )
        return seg

    def check_label_options(self, options: dict, suffix: str, where: str) -> dict:
        """``ignore_index`` and ``reduce_zero_label`` become one lookup table
        of the stored values (``label_map``)."""
        lut = list(range(256))
        if options.get("reduce_zero_label", False):
            lut = [IGNORE_INDEX] + [v - 1 for v in range(1, 256)]
        ignore = options.get("ignore_index", IGNORE_INDEX)
        if not 0 <= ignore <= 255:
            raise ValueError(f"{where}: ignore_index must be in 0..255, got {ignore}")
        lut[ignore] = IGNORE_INDEX
        return {} if lut == list(range(256)) else dict(label_map=lut)

    def encode(self, label: np.ndarray, path_stem: str, suffix: str) -> str:
        if suffix != ".png":
            raise ValueError(f"{self.name} labels are written as .png, not {suffix}")
        return save_png(label, path_stem)

    def plausibility(self, label, dataset=None) -> List[str]:
        return ["every pixel is unlabelled"] if (label == self.pad_value).all() else []

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.argmax(dim=1, keepdim=True)

    @staticmethod
    def logits_field(info: TaskInfo) -> str:
        """The data field of the task's logits, e.g. ``sem_seg_logits``."""
        return f"{info.field}_logits"

    def predictions(self, restored, info) -> Dict[str, torch.Tensor]:
        return {
            self.logits_field(info): restored[0],
            info.pred_field: self.activate(restored)[0],
        }

    def merge_views(self, views: Sequence, info: TaskInfo) -> Dict[str, torch.Tensor]:
        """Average the views' class probabilities (softmax of the logits), as
        mmseg's ``SegTTAModel`` does, then take the argmax; the merged logits
        are the log of the mean probabilities.

        Probabilities rather than logits: each view contributes a bounded
        vote per class, so one view's very large logits cannot overrule the
        others.
        """
        field = self.logits_field(info)
        probs = stacked(views, field).softmax(dim=1).mean(dim=0)
        return {field: probs.log(), info.pred_field: probs.argmax(dim=0, keepdim=True)}

    def random_label(self, num_classes, size, generator) -> torch.Tensor:
        return torch.randint(0, num_classes, (1, *size), generator=generator)

    def build_meter(self, info, num_classes, class_names, absent_class="zero"):
        from mtcp.evaluation.metrics.segmentation_meter import SegmentationMeter

        return SegmentationMeter(
            num_classes=num_classes,
            ignore_index=IGNORE_INDEX,
            absent_class=absent_class,
            class_names=class_names,
            task=info.name,
        )

    def colorize(self, data, palette=None, vmin=None, vmax=None) -> np.ndarray:
        """``palette[c]`` per pixel; 255 (ignore) is black."""
        data = as_hw(np.asarray(data), self.name)
        if palette is None:
            raise ValueError(f"colourising a {self.name} map needs the class palette")
        lut = np.zeros((256, 3), dtype=np.uint8)
        lut[: len(palette)] = np.asarray(palette, dtype=np.uint8)
        lut[IGNORE_INDEX] = 0
        labels = data.astype(np.int64)
        if labels.min(initial=0) < 0 or labels.max(initial=0) > IGNORE_INDEX:
            raise ValueError(f"colourising a {self.name} map: labels outside 0..255")
        if ((labels >= len(palette)) & (labels != IGNORE_INDEX)).any():
            raise ValueError(
                f"colourising a {self.name} map: a label exceeds the palette's "
                f"{len(palette)} classes"
            )
        return lut[labels]

    def legend(
        self, data, palette=None, class_names=None, vmin=None, vmax=None
    ) -> Legend:
        """The classes present in ``data``, largest area first, each with its
        name (the index without ``class_names``) and palette colour."""
        labels = as_hw(np.asarray(data), self.name).astype(np.int64).ravel()
        counts = np.bincount(labels[labels != IGNORE_INDEX], minlength=1)
        present = [c for c in np.argsort(-counts, kind="stable") if counts[c]]
        names = class_names if class_names is not None else range(len(counts))
        if palette is None or max(present, default=-1) >= len(palette):
            raise ValueError(
                f"a {self.name} legend needs a palette entry for every class present"
            )
        return Legend(swatches=[(str(names[c]), tuple(palette[c])) for c in present])

    def saved_class_offset(self, reduce_zero_label: bool) -> int:
        """What is added to the class ids saved: 1 for a dataset whose class
        maps store 1..K with 0 unlabelled (``reduce_zero_label``)."""
        return int(reduce_zero_label)

    def write(self, pred, path_stem, reduce_zero_label) -> str:
        """uint8 ``.png`` of the classes, plus one with ``reduce_zero_label``
        (the dataset's own 1..K convention)."""
        pred = pred + self.saved_class_offset(reduce_zero_label)
        if pred.min() < 0 or pred.max() > 255:
            raise ValueError(
                f"{path_stem}: class indices outside 0..255 cannot be saved as a PNG"
            )
        return save_png(pred[0], path_stem)
