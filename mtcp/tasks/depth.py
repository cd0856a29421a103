"""Metric depth: metres per pixel, 0 = invalid."""

import json
import os.path as osp
from typing import List, Tuple

import cv2
import numpy as np
import torch
from mmengine import fileio

from .base_kind import BaseTaskKind
from .label_io import as_hw, read_npy, read_png_16, save_npy, squeeze_hw
from .legend import ramp_legend
from .registry import TASK_KINDS

# Largest plausible depth (metres) per dataset: NYUD-v2's Kinect reads up to
# about 10 m indoors.
MAX_PLAUSIBLE_DEPTH = {"nyud": 20.0}


@TASK_KINDS.register_module()
class Depth(BaseTaskKind):
    """Depth in metres, 0 = invalid.

    - Files: float32 ``.npy`` metres; 8/16-bit ``.png`` of ``v / scale``
      metres (``scale``: stored value per metre, e.g. 1000 for millimetres),
      or a Cityscapes disparity PNG with its ``camera`` file
      (:func:`depth_from_cityscapes_disparity`).
    - Transforms: nearest-neighbour resize with the depth divided by the
      scale factor (a scene seen ``s`` times larger appears ``s`` times
      closer), plain flips, padded with 0.
    - Model: one channel, L1 on the valid pixels, clamped at 0; a test image
      resized by ``s`` gives a prediction multiplied by ``s`` back on the
      original image; test-time augmentation averages.
    - Metric: RMSE, abs_rel, log_rmse, delta1..3 (:class:`DepthMeter`);
      Delta_m uses RMSE (lower is better). Saved as float32 ``.npy`` metres.

    Folder dataset option: ``scale`` (required for ``.png`` depth).
    """

    pad_value = 0.0
    label_dtype = np.float32
    suffixes = (".npy", ".png")
    default_loss = dict(type="DepthL1Loss")
    delta_m = ("rmse", True)
    metric_options = ("max_depth",)
    label_options = ("scale",)
    export_format = "depth"

    def decode(self, content: bytes, path: str, options: dict) -> np.ndarray:
        ext = osp.splitext(path)[1].lower()
        if ext == ".npy":
            depth = read_npy(content, path)
            if depth.dtype != np.float32:
                raise TypeError(
                    f"{path}: depth has dtype {depth.dtype}, expected float32 metres"
                )
            depth = squeeze_hw(depth, path, "depth")
            if not np.isfinite(depth).all() or depth.min() < 0:
                raise ValueError(f"{path}: depth must be finite and >= 0 (0 = invalid)")
            return np.ascontiguousarray(depth)
        if ext != ".png":
            raise self.unsupported(path)
        raw = read_png_16(content, path)
        camera_path = options.get("camera_path")
        if camera_path is not None:
            camera = fileio.get(camera_path, backend_args=options.get("backend_args"))
            return depth_from_cityscapes_disparity(
                raw, *read_cityscapes_camera(camera, camera_path)
            )
        scale = options.get("scale")
        if scale is None:
            raise ValueError(
                f"{path}: a depth .png needs `scale` (stored value per metre) in "
                "the dataset's config"
            )
        return (raw.astype(np.float64) / scale).astype(np.float32)

    def check_label_options(self, options: dict, suffix: str, where: str) -> dict:
        if suffix == ".png" and not options.get("scale", 0) > 0:
            raise ValueError(
                f"{where}: a .png depth needs `scale` > 0, the stored value per "
                "metre (e.g. 1000 for millimetres)"
            )
        return dict(options)

    def encode(self, label: np.ndarray, path_stem: str, suffix: str) -> str:
        """``.npy`` metres, or ``.png`` millimetres (read with scale 1000)."""
        if suffix == ".npy":
            return save_npy(label.astype(np.float32), path_stem)
        return save_mm_png(label, path_stem)

    def plausibility(self, label, dataset=None) -> List[str]:
        valid = label > 0
        if not valid.any():
            return ["no valid (> 0) pixel"]
        largest = float(label[valid].max())
        limit = MAX_PLAUSIBLE_DEPTH.get(dataset)
        if limit is not None and largest > limit:
            return [
                f"values up to {largest:g}, beyond the plausible {limit:g} m of "
                "this dataset; depth must be in metres (millimetres would be "
                "1000 times larger)"
            ]
        return []

    def resize_label(self, label, size, scale) -> np.ndarray:
        return super().resize_label(label, size, scale) / np.float32(scale)

    def pack(self, label: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(label[None], dtype=np.float32))

    def labelled(self, gt: torch.Tensor) -> torch.Tensor:
        return gt > 0

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.clamp(min=0)

    def restore(self, raw: torch.Tensor, meta: dict) -> torch.Tensor:
        """Also multiply by the test-time scale factor ``s`` (the geometric
        mean of w and h): the inverse of the training rule above."""
        pred = super().restore(raw, meta)
        if meta.get("scale_factor") is None:
            return pred
        w_scale, h_scale = meta["scale_factor"]
        return pred * float(w_scale * h_scale) ** 0.5

    def random_label(self, num_classes, size, generator) -> torch.Tensor:
        """Depths in 0.5-10 m."""
        return 0.5 + 9.5 * torch.rand(1, *size, generator=generator)

    def build_meter(self, info, num_classes, class_names, max_depth=None):
        from mtcp.evaluation.metrics.depth_meter import DepthMeter

        return DepthMeter(max_depth=max_depth)

    def colorize(self, data, palette=None, vmin=None, vmax=None) -> np.ndarray:
        """The 'jet' colour map from ``vmin`` (default: the smallest valid
        depth) to ``vmax`` (default: the largest); 0 (invalid) is black."""
        depth = as_hw(np.asarray(data), self.name).astype(np.float32)
        valid = depth > 0
        if not valid.any():
            return np.zeros(depth.shape + (3,), dtype=np.uint8)
        low, high = self._range(depth, vmin, vmax)
        scaled = np.clip((depth - low) / max(high - low, 1e-6), 0, 1)
        bgr = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET)
        rgb = bgr[..., ::-1].copy()
        rgb[~valid] = 0
        return rgb

    @staticmethod
    def _range(depth: np.ndarray, vmin, vmax) -> Tuple[float, float]:
        """The depths at the cold and hot ends: ``vmin`` and ``vmax``, else
        the smallest and largest valid (> 0) depth."""
        valid = depth[depth > 0]
        low = float(valid.min()) if vmin is None else float(vmin)
        high = float(valid.max()) if vmax is None else float(vmax)
        return low, high

    def legend(self, data, palette=None, class_names=None, vmin=None, vmax=None):
        """A colour bar in metres over the range :meth:`colorize` uses; None
        without a valid pixel."""
        depth = as_hw(np.asarray(data), self.name).astype(np.float32)
        if not (depth > 0).any():
            return None
        low, high = self._range(depth, vmin, vmax)
        values = np.linspace(max(low, 1e-6), high, 256, dtype=np.float32)
        colours = self.colorize(values[None], vmin=low, vmax=high)
        return ramp_legend(colours, low, high, "{:.2f} m")

    def write(self, pred, path_stem, reduce_zero_label) -> str:
        """float32 ``.npy`` in metres."""
        return save_npy(pred[0].astype(np.float32), path_stem)


def save_mm_png(depth: np.ndarray, path_stem: str) -> str:
    """Depth as a 16-bit PNG of millimetres."""
    path = f"{path_stem}.png"
    cv2.imwrite(path, np.round(depth * 1000).clip(0, 65535).astype(np.uint16))
    return path


def read_cityscapes_camera(content: bytes, path: str) -> Tuple[float, float]:
    """``(baseline in metres, fx in pixels)`` of a Cityscapes ``camera`` JSON."""
    try:
        camera = json.loads(content)
        baseline = float(camera["extrinsic"]["baseline"])
        fx = float(camera["intrinsic"]["fx"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path}: expected a Cityscapes camera JSON with extrinsic.baseline "
            f"and intrinsic.fx ({type(err).__name__}: {err})"
        ) from err
    if not (baseline > 0 and fx > 0):
        raise ValueError(
            f"{path}: baseline ({baseline}) and fx ({fx}) must be positive"
        )
    return baseline, fx


def depth_from_cityscapes_disparity(
    raw: np.ndarray, baseline: float, fx: float
) -> np.ndarray:
    """Depth in metres from a Cityscapes disparity PNG's values.

    ``disparity = (p - 1) / 256`` for ``p > 0`` and ``depth = baseline * fx /
    disparity``; ``p = 0`` (no measurement) and ``p = 1`` (zero disparity,
    infinitely far) are invalid (0).

    Args:
        raw (np.ndarray): uint16 values ``p`` of the PNG.
        baseline (float): Stereo baseline in metres.
        fx (float): Focal length in pixels.
    """
    disparity = (raw.astype(np.float64) - 1.0) / 256.0
    valid = raw > 1
    depth = np.zeros(raw.shape, dtype=np.float64)
    depth[valid] = baseline * fx / disparity[valid]
    return depth.astype(np.float32)
