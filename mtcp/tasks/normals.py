"""Surface normals: a unit vector per pixel, the zero vector = invalid."""

import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .base_kind import BaseTaskKind, stacked
from .label_io import read_npy, read_png, save_npy, save_png
from .registry import TASK_KINDS

# A valid unit normal stored in a .png decodes to a norm near 1; the zero
# vector (invalid) can only be stored as 127/128, whose norm is below 0.01.
_MIN_PNG_NORMAL_NORM = 0.5
# More than this share of labelled vectors further than 0.1 from unit length
# is suspicious.
MAX_NON_UNIT_SHARE = 0.01
# Per flip direction, the components that change sign.
_NEGATED_AXES = {"horizontal": (0,), "vertical": (1,), "diagonal": (0, 1)}


def _renormalise(normals: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    # the zero vector marks invalid pixels and must stay zero
    return np.where(norm > 0, normals / np.maximum(norm, 1e-12), 0).astype(np.float32)


@TASK_KINDS.register_module()
class Normals(BaseTaskKind):
    """Unit normals (x, y, z) per pixel, the zero vector = invalid.

    - Files: ``.npy`` (H, W, 3) floats in [-1, 1]; RGB ``.png`` with
      ``n = 2 v / 255 - 1`` (a near-zero decoded vector is invalid).
    - Transforms: nearest-neighbour resize then renormalised; a flip mirrors
      the map and negates the flipped axis' component (x for horizontal, y
      for vertical); padded with 0.
    - Model: three channels, L1 between the L2-normalised prediction and the
      label; the prediction is L2-normalised; undoing a flip negates the
      component again; test-time augmentation averages and renormalises.
    - Metric: angular error mean, median, rmse, % < 11.25 / 22.5 / 30
      degrees (:class:`NormalsMeter`); Delta_m uses the mean (lower is
      better). Saved as RGB ``.png`` with ``v = 255 (n + 1) / 2``.
    """

    channels = 3
    pad_value = 0.0
    label_dtype = np.float32
    suffixes = (".npy", ".png")
    default_loss = dict(type="NormalsL1Loss")
    delta_m = ("mean", True)
    export_format = "normals"

    def decode(self, content: bytes, path: str, options: dict) -> np.ndarray:
        ext = osp.splitext(path)[1].lower()
        if ext == ".png":
            normals = read_png(content, path, channels=3)
            normals = normals.astype(np.float32) * (2.0 / 255) - 1.0
            invalid = np.linalg.norm(normals, axis=2) < _MIN_PNG_NORMAL_NORM
            normals[invalid] = 0
        elif ext == ".npy":
            normals = read_npy(content, path).astype(np.float32)
            if np.abs(normals).max(initial=0) > 1.0 + 1e-3:
                raise ValueError(f"{path}: normals must lie in [-1, 1]")
        else:
            raise self.unsupported(path)
        if normals.ndim != 3 or normals.shape[2] != 3:
            raise ValueError(
                f"{path}: normals have shape {normals.shape}, expected (H, W, 3)"
            )
        if not np.isfinite(normals).all():
            raise ValueError(f"{path}: normals contain NaN or inf")
        return np.ascontiguousarray(normals)

    def encode(self, label: np.ndarray, path_stem: str, suffix: str) -> str:
        """``.npy`` as is, or RGB ``.png`` (the zero vector as 128)."""
        if suffix == ".npy":
            return save_npy(label.astype(np.float32), path_stem)
        rgb = np.round((label + 1) / 2 * 255).clip(0, 255)
        rgb[~label.any(axis=2)] = 128
        return save_png(rgb, path_stem)

    def plausibility(self, label, dataset=None) -> List[str]:
        norms = np.linalg.norm(label, axis=-1)
        labelled = norms > 0
        if not labelled.any():
            return ["no labelled pixel"]
        off = float(np.mean(np.abs(norms[labelled] - 1) > 0.1))
        if off > MAX_NON_UNIT_SHARE:
            return [
                f"{off:.0%} of the labelled vectors are not unit length "
                "(expected unit normals, or the zero vector for invalid pixels)"
            ]
        return []

    def resize_label(self, label, size, scale) -> np.ndarray:
        return _renormalise(super().resize_label(label, size, scale))

    def flip_label(self, label: np.ndarray, direction: str) -> np.ndarray:
        label = super().flip_label(label, direction)
        label[..., list(_NEGATED_AXES[direction])] *= -1
        return label

    def pack(self, label: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(
            np.ascontiguousarray(label.transpose(2, 0, 1), dtype=np.float32)
        )

    def labelled(self, gt: torch.Tensor) -> torch.Tensor:
        return (gt != 0).any(dim=1, keepdim=True)

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        return F.normalize(raw, dim=1)

    def flip_back(self, pred: torch.Tensor, direction: str) -> torch.Tensor:
        pred = super().flip_back(pred, direction)
        sign = pred.new_ones(pred.shape[1])
        sign[0 if direction == "horizontal" else 1] = -1.0
        return pred * sign.view(1, -1, 1, 1)

    def merge_views(self, views: Sequence, info) -> Dict[str, torch.Tensor]:
        """The mean of the views' unit normals, renormalised to unit length."""
        mean = stacked(views, info.pred_field).mean(dim=0)
        return {info.pred_field: F.normalize(mean, dim=0)}

    def random_label(self, num_classes, size, generator) -> torch.Tensor:
        return F.normalize(torch.randn(3, *size, generator=generator), dim=0)

    def build_meter(self, info, num_classes, class_names):
        from mtcp.evaluation.metrics.normals_meter import NormalsMeter

        return NormalsMeter()

    def colorize(self, data, palette=None, vmin=None, vmax=None) -> np.ndarray:
        """``(n + 1) / 2 * 255`` per channel; the zero vector is black."""
        data = np.asarray(data)
        if data.ndim == 3 and data.shape[0] == 3 and data.shape[2] != 3:
            data = data.transpose(1, 2, 0)
        if data.ndim != 3 or data.shape[2] != 3:
            raise ValueError(
                f"colourising normals: expected (3, H, W) or (H, W, 3), got "
                f"shape {data.shape}"
            )
        rgb = np.clip((data + 1) / 2 * 255, 0, 255).round().astype(np.uint8)
        rgb[~data.any(axis=2)] = 0
        return rgb

    def write(self, pred, path_stem, reduce_zero_label) -> str:
        """RGB ``.png`` with ``v = 255 (n + 1) / 2``: x y z in R G B."""
        return save_png((pred.transpose(1, 2, 0) + 1) * 127.5, path_stem)
