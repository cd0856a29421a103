"""Semantic segmentation and human parts: mIoU, pixel and class accuracy."""

from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmseg.evaluation import IoUMetric
from prettytable import PrettyTable

from .base_meter import (
    ArrayLike,
    BaseMeter,
    Statistics,
    single_channel_pair,
    summary_table,
    warn_nothing_evaluated,
)

ABSENT_CLASS_MODES = ("zero", "nan")


class SegmentationMeter(BaseMeter):
    """mIoU, aAcc and mAcc pooled over every valid pixel of a dataset.

    Per class c, the intersection (TP), the predicted area (TP + FP) and the
    labelled area (TP + FN) of each image (mmseg's
    ``IoUMetric.intersect_and_union``) are summed over the dataset; then
    ``IoU_c = TP / (TP + FP + FN)``, ``Acc_c = TP / (TP + FN)``,
    ``aAcc = sum TP / sum (TP + FN)``. Pixels labelled ``ignore_index`` are
    left out.

    Args:
        num_classes (int): Number of classes K; labels and predictions lie in
            ``0..K-1``.
        ignore_index (int): Label value of pixels that are not scored.
            Defaults to 255.
        absent_class (str): What a class without a denominator counts in the
            means: ``'zero'`` (the multi-task protocol: a class neither
            labelled nor predicted has IoU 0, a class never labelled has
            Acc 0, and the means run over all K classes) or ``'nan'``
            (mmseg's IoUMetric: such classes are NaN and left out of the
            means). Defaults to ``'zero'``.
        class_names (Sequence[str], optional): Names for the per-class table.
            Defaults to the class indices.
        task (str): Task name used in messages. Defaults to ``'semseg'``.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = 255,
        absent_class: str = "zero",
        class_names: Optional[Sequence[str]] = None,
        task: str = "semseg",
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"{task}: num_classes must be >= 1, got {num_classes}")
        if absent_class not in ABSENT_CLASS_MODES:
            raise ValueError(
                f"absent_class must be one of {ABSENT_CLASS_MODES}, "
                f"got {absent_class!r}"
            )
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f"{task}: {len(class_names)} class names for {num_classes} classes"
            )
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.absent_class = absent_class
        self.class_names = (
            list(class_names)
            if class_names is not None
            else [str(i) for i in range(num_classes)]
        )
        self.task = task
        super().__init__()

    def empty_state(self) -> Statistics:
        zeros = np.zeros(self.num_classes, dtype=np.int64)
        return dict(intersect=zeros, pred_area=zeros.copy(), label_area=zeros.copy())

    def statistics(self, pred: ArrayLike, gt: ArrayLike) -> Statistics:
        pred, gt = single_channel_pair(pred, gt, self.task)
        gt = gt.to(pred.device).long()
        pred = pred.long()
        valid = gt != self.ignore_index
        num_classes = self.num_classes
        self._check_class_range(
            torch.where(valid, gt, 0),
            "label has values",
            f" besides ignore ({self.ignore_index})",
        )
        pred = torch.where(valid, pred, 0)
        self._check_class_range(pred, "prediction has class indices", "")
        intersect, _, pred_area, label_area = IoUMetric.intersect_and_union(
            pred, gt, num_classes, self.ignore_index
        )
        # histc counts in float32, exact up to 2**24 pixels per image
        return {
            name: area.round().long().numpy()
            for name, area in (
                ("intersect", intersect),
                ("pred_area", pred_area),
                ("label_area", label_area),
            )
        }

    def _check_class_range(self, x: torch.Tensor, what: str, note: str) -> None:
        """Raise naming ``what`` unless every value of ``x`` is in 0..K-1."""
        if x.min() < 0 or x.max() >= self.num_classes:
            raise ValueError(
                f"{self.task} {what} in [{x.min().item()}, {x.max().item()}]"
                f"{note}; expected 0..{self.num_classes - 1}"
            )

    def class_results(self) -> Dict[str, np.ndarray]:
        """Return per-class ``IoU`` and ``Acc`` in percent.

        A class without a denominator is 0 or NaN as ``absent_class`` says.
        """
        intersect = self.state["intersect"].astype(np.float64)
        union = self.state["pred_area"] + self.state["label_area"] - intersect
        label_area = self.state["label_area"].astype(np.float64)
        fill = 0.0 if self.absent_class == "zero" else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, intersect / union, fill)
            acc = np.where(label_area > 0, intersect / label_area, fill)
        return dict(IoU=iou * 100, Acc=acc * 100)

    def compute(self) -> Dict[str, float]:
        """Return ``mIoU``, ``aAcc`` and ``mAcc``, all in percent."""
        total = self.state["label_area"].sum()
        if total == 0:
            warn_nothing_evaluated(self.task, "labelled pixel")
            return dict(mIoU=float("nan"), aAcc=float("nan"), mAcc=float("nan"))
        per_class = self.class_results()
        mean = np.mean if self.absent_class == "zero" else np.nanmean
        return dict(
            mIoU=float(mean(per_class["IoU"])),
            aAcc=float(self.state["intersect"].sum() / total * 100),
            mAcc=float(mean(per_class["Acc"])),
        )

    def format_table(self, results: Dict[str, float]) -> str:
        """Return the per-class IoU/Acc table followed by the summary."""
        per_class = self.class_results()
        table = PrettyTable()
        table.add_column("Class", self.class_names)
        for name, values in per_class.items():
            table.add_column(name, np.round(values, 2).tolist())
        return table.get_string() + "\n" + summary_table(results.items(), digits=2)
