"""Boundaries (edges): 1 on a boundary pixel, 0 elsewhere, 255 = unlabelled.

Two label sources, as the multi-task literature has them:

- an edge map (NYUD-v2's ``edge/<id>.png | .npy``), 0/1;
- a PASCAL-Context label map (``pascal-context/trainval/<id>.mat``, key
  ``LabelMap``), kept as a label map so that evaluation uses SEISM's ground
  truth, ``bwmorph(seg2bmap(LabelMap), 'thin', Inf)`` (SEISM
  ``src/gt_wrappers/db_gt.m``, ``src/piotr_edges/edgesEvalImg.m``), while the
  training target is the loaders' ``thin(|Laplacian(LabelMap)| > 0)``
  (ASTMT ``fblib/dataloaders/pascal_context.py`` ``_load_edge``, MTI-Net,
  InvPT ``data/pascal_context.py``; OpenCV's 3 x 3 Laplacian). A label map
  is stored as ``-1 - label`` (every value negative), so the two sources
  share one label field and 255 stays the unlabelled value.
"""

import io
import os.path as osp
from typing import List

import cv2
import numpy as np
import torch
from scipy.io import loadmat

from .binary_map import BinaryMap
from .label_io import as_hw, grey, save_png
from .registry import TASK_KINDS
from .task_table import IGNORE_INDEX

LABEL_MAP_KEY = "LabelMap"


def load_context_label_map(content: bytes, path: str) -> np.ndarray:
    """The (H, W) int32 ``LabelMap`` of a PASCAL-Context ``.mat`` file."""
    try:
        mat = loadmat(io.BytesIO(content))
    except Exception as err:
        raise ValueError(f"{path}: unreadable .mat file ({err})") from err
    if LABEL_MAP_KEY not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise KeyError(f"{path}: no {LABEL_MAP_KEY!r} in the .mat file (it has {keys})")
    label_map = np.asarray(mat[LABEL_MAP_KEY])
    if label_map.ndim != 2:
        raise ValueError(
            f"{path}: {LABEL_MAP_KEY} must be an (H, W) map, got shape {label_map.shape}"
        )
    return label_map.astype(np.int32)


def laplacian_edges(label_map: np.ndarray) -> np.ndarray:
    """The loaders' training edges: ``thin(|Laplacian(label_map)| > 0)``,
    (H, W) uint8, 1 on edges."""
    from mtcp.evaluation.functional import thin

    label_map = np.asarray(label_map)
    if label_map.ndim != 2:
        raise ValueError(f"the label map must be (H, W), got shape {label_map.shape}")
    laplacian = cv2.Laplacian(label_map.astype(np.float64), cv2.CV_64F)
    return thin(np.abs(laplacian) > 0).astype(np.uint8)


def edges_of_label_map(coded: np.ndarray) -> np.ndarray:
    """Training edges of a stored label map (``-1 - label``, 255 padding):
    the Laplacian edges of the labelled region; pixels next to padding are
    unlabelled (the padding is no region of the scene)."""
    pad = coded == IGNORE_INDEX
    labels = -1 - coded.astype(np.int64)
    # the padding as one more region, whose border is then left unlabelled
    labels[pad] = labels[~pad].max(initial=0) + 1
    edges = laplacian_edges(labels)
    near_pad = cv2.dilate(pad.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return np.where(near_pad, IGNORE_INDEX, edges).astype(np.int64)


@TASK_KINDS.register_module()
class Boundary(BinaryMap):
    """A boundary map (edge detection), scored with the BSDS boundary
    F-measures (odsF, oisF, AP; :class:`~mtcp.evaluation.BoundaryMeter`).

    - Files: edge maps ``.png`` (``v / 255 > 0.5``) and ``.npy`` (values in
      [0, 1], binarised at 0.5); PASCAL-Context ``.mat`` label maps (see the
      module's docstring).
    - Model: one channel, the boundary literature's balanced cross-entropy
      with positives weighted 0.95 (HED, ASTMT, MTI-Net), on the edge map
      or the label map's Laplacian edges; sigmoid probabilities.
    - Metric: ``odsF`` (Delta_m, higher is better), ``oisF``, ``AP``; the
      meter's arguments (``variant``, ``max_dist``, ``thresholds``,
      ``matcher``, ``num_workers``) come from ``MultiTaskMetric(meters=
      dict(edge=dict(...)))``.
    - Saved as uint8 ``.png`` of ``(255 p).astype(uint8)`` (truncation), the
      files SEISM reads in the field's evaluation.
    """

    suffixes = (".png", ".npy", ".mat")
    label_dtype = np.int32
    default_loss = dict(type="BalancedBCELoss", pos_weight=0.95)
    delta_m = ("odsF", False)
    export_format = "boundary"

    def decode(self, content: bytes, path: str, options: dict) -> np.ndarray:
        if osp.splitext(path)[1].lower() == ".mat":
            return -1 - load_context_label_map(content, path)
        return super().decode(content, path, options).astype(np.int32)

    def encode(self, label: np.ndarray, path_stem: str, suffix: str) -> str:
        if (label < 0).any():
            raise ValueError(f"{path_stem}: a label map is written as a .mat file")
        return super().encode(label, path_stem, suffix)

    def loss_target(self, gt: torch.Tensor) -> torch.Tensor:
        """Label maps (negative values) become their Laplacian edges."""
        if not bool((gt < 0).any()):
            return gt
        target = gt.clone()
        for index in range(gt.shape[0]):
            if bool((gt[index] < 0).any()):
                edges = edges_of_label_map(gt[index, 0].cpu().numpy())
                target[index, 0] = torch.from_numpy(edges).to(gt.device)
        return target

    def plausibility(self, label, dataset=None) -> List[str]:
        return []

    def build_meter(self, info, num_classes, class_names, **options):
        from mtcp.evaluation.metrics.boundary_meter import BoundaryMeter

        return BoundaryMeter(task=info.name, **options)

    def colorize(self, data, palette=None, vmin=None, vmax=None) -> np.ndarray:
        """Probabilities or edges as grey (a label map as its training
        edges); 255 (unlabelled) is black."""
        data = as_hw(np.asarray(data), self.name)
        if (data < 0).any():
            data = edges_of_label_map(data)
        return grey(data, IGNORE_INDEX)

    def write(self, pred, path_stem, reduce_zero_label) -> str:
        """uint8 ``.png`` of ``(255 p).astype(uint8)``, as the field saves
        boundary predictions for SEISM."""
        from mtcp.evaluation.functional import quantize_probabilities

        return save_png(quantize_probabilities(pred[0]), path_stem)
