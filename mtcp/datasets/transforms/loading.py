import io
import os.path as osp
from typing import Dict, Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmseg.registry import TRANSFORMS

from mtcp.structures import IGNORE_INDEX, TASKS

from ..human_parts import decode_pascal_part_mat
from .label_decoding import (
    apply_label_map,
    depth_from_cityscapes_disparity,
    depth_from_png,
    missing_label,
    read_cityscapes_camera,
    read_single_channel_png,
)

# A valid unit normal stored in a .png decodes to a norm near 1; the zero
# vector (invalid) can only be stored as 127/128, whose norm is below 0.01.
_MIN_PNG_NORMAL_NORM = 0.5


@TRANSFORMS.register_module()
class LoadMultiTaskAnnotations(BaseTransform):
    """Load the label map of every task in ``results['tasks']``.

    Runs after mmcv's ``LoadImageFromFile``: every map is checked against the
    original image size (``ori_shape``), so it may also follow a test-time
    resize of the image. The dataset puts the file of each task in
    ``results['ann_paths'][task]``; the label conventions of
    DATA_AND_METRICS.md are applied here:

    - semseg / parts ``.png``: with ``results['reduce_zero_label']`` (NYUD,
      semseg only) 0 becomes 255 and 1..K becomes 0..K-1; with
      ``results['label_maps'][task]`` (a 256-entry lookup table) the stored
      values are remapped; values must then be < ``num_classes`` or 255.
    - parts ``.mat``: PASCAL-Part objects grouped into 6 parts
      (:func:`decode_pascal_part_mat`); no person -> all 255.
    - depth ``.npy``: float32 metres, 0 invalid.
    - depth ``.png`` (8/16-bit): with ``results['disparity_camera_path']``
      a Cityscapes disparity map, converted with the camera file's baseline
      and fx (:func:`depth_from_cityscapes_disparity`); otherwise
      ``v / results['depth_scale']``; 0 invalid.
    - normals ``.npy`` (float in [-1, 1]) or ``.png`` (``2 * v / 255 - 1``,
      RGB channel order = xyz); a near-zero decoded vector is invalid (0).
    - saliency ``.png``: ``v / 255 > 0.5``.
    - edge ``.npy`` (values in [0, 1]) or ``.png`` (``v / 255``), binarised
      at 0.5.
    - a task whose file is ``None`` (an image without that label, see
      ``allow_missing_labels`` of the folder datasets): an all-ignore map
      (:func:`missing_label`).

    Required Keys: img, tasks, ann_paths, (reduce_zero_label, num_classes).

    Added Keys: the ``results_key`` of every task (see ``mtcp.structures.TASKS``),
    also listed in ``seg_fields`` (see :func:`add_label_map`).

    Args:
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = backend_args.copy() if backend_args else None

    def transform(self, results: dict) -> dict:
        if "img" not in results:
            raise KeyError(
                "LoadMultiTaskAnnotations needs results['img']: put mmcv's "
                "LoadImageFromFile before it in the pipeline"
            )
        # labels are read at the original image size, also when the image was
        # resized before them (test pipelines evaluate at the original size)
        shape = tuple(results.get("ori_shape", results["img"].shape[:2]))
        ann_paths: Dict[str, str] = results["ann_paths"]
        num_classes: Dict[str, int] = results.get("num_classes", {})
        for task in results["tasks"]:
            if task not in ann_paths:
                raise KeyError(
                    f"{results.get('img_path')}: no annotation file for task "
                    f"{task!r} in results['ann_paths'] ({sorted(ann_paths)})"
                )
            path = ann_paths[task]
            if path is None:
                add_label_map(results, task, missing_label(task, shape))
                continue
            label = self._load(task, path, shape, results)
            if label.shape[:2] != shape:
                raise ValueError(
                    f"{path}: {task} label map has size {label.shape[:2]}, "
                    f"expected the image size {shape} of {results['img_path']}"
                )
            if task in num_classes:
                _check_class_range(label, num_classes[task], task, path)
            add_label_map(results, task, label)
        return results

    def _load(self, task: str, path: str, shape: tuple, results: dict) -> np.ndarray:
        ext = osp.splitext(path)[1].lower()
        content = fileio.get(path, backend_args=self.backend_args)
        if TASKS[task].kind == "class" and ext == ".png":
            seg = self._read_png(content, path, channels=1)
            if task == "semseg" and results.get("reduce_zero_label", False):
                # uint8 wrap-around maps 0 - 1 to 255, the ignore index
                seg = seg - np.uint8(1)
            lut = results.get("label_maps", {}).get(task)
            return seg if lut is None else apply_label_map(seg, lut, path, task)
        if task == "parts" and ext == ".mat":
            return decode_pascal_part_mat(content, shape, path)
        if task == "depth" and ext == ".npy":
            depth = _load_npy(content, path)
            if depth.dtype != np.float32:
                raise TypeError(
                    f"{path}: depth has dtype {depth.dtype}, expected float32 metres"
                )
            if depth.ndim == 3 and depth.shape[2] == 1:
                depth = depth[..., 0]
            if depth.ndim != 2:
                raise ValueError(
                    f"{path}: depth has shape {depth.shape}, expected (H, W)"
                )
            if not np.isfinite(depth).all() or depth.min() < 0:
                raise ValueError(f"{path}: depth must be finite and >= 0 (0 = invalid)")
            return np.ascontiguousarray(depth)
        if task == "depth" and ext == ".png":
            return self._load_depth_png(content, path, results)
        if task == "normals" and ext in (".npy", ".png"):
            return self._load_normals(content, path, ext)
        if task == "saliency" and ext == ".png":
            sal = self._read_png(content, path, channels=1)
            return (sal.astype(np.float32) / 255 > 0.5).astype(np.uint8)
        if task == "edge" and ext in (".npy", ".png"):
            if ext == ".png":
                edge = self._read_png(content, path, channels=1) / 255.0
            else:
                edge = _load_npy(content, path)
                if edge.ndim == 3 and edge.shape[2] == 1:
                    edge = edge[..., 0]
                if edge.ndim != 2 or edge.min() < 0 or edge.max() > 1:
                    raise ValueError(
                        f"{path}: edge must be (H, W) with values in [0, 1]"
                    )
            return (edge > 0.5).astype(np.uint8)
        raise ValueError(f"{path}: unsupported file type {ext!r} for task {task!r}")

    @staticmethod
    def _read_png(content: bytes, path: str, channels: int) -> np.ndarray:
        try:
            # pillow keeps palette indices of label PNGs instead of colours
            img = mmcv.imfrombytes(
                content,
                flag="unchanged" if channels == 1 else "color",
                channel_order="rgb",
                backend="pillow",
            )
        except Exception as err:
            raise ValueError(f"{path}: unreadable image ({err})") from err
        if img is None:
            raise ValueError(f"{path}: unreadable image")
        if channels == 1 and img.ndim == 3:
            raise ValueError(
                f"{path}: label map has shape {img.shape}, expected a "
                "single-channel (H, W) PNG"
            )
        if img.dtype != np.uint8:
            raise TypeError(f"{path}: PNG has dtype {img.dtype}, expected uint8")
        return img

    def _load_depth_png(self, content: bytes, path: str, results: dict) -> np.ndarray:
        camera_path = results.get("disparity_camera_path")
        if camera_path is not None:
            camera = fileio.get(camera_path, backend_args=self.backend_args)
            baseline, fx = read_cityscapes_camera(camera, camera_path)
            raw = read_single_channel_png(content, path)
            return depth_from_cityscapes_disparity(raw, baseline, fx)
        scale = results.get("depth_scale")
        if scale is None:
            raise ValueError(
                f"{path}: a depth .png needs `depth_scale` (stored value per "
                "metre) in the dataset's config"
            )
        return depth_from_png(content, path, scale)

    def _load_normals(self, content: bytes, path: str, ext: str) -> np.ndarray:
        if ext == ".png":
            normals = self._read_png(content, path, channels=3)
            normals = normals.astype(np.float32) * (2.0 / 255) - 1.0
            invalid = np.linalg.norm(normals, axis=2) < _MIN_PNG_NORMAL_NORM
            normals[invalid] = 0
        else:
            normals = _load_npy(content, path).astype(np.float32)
            if np.abs(normals).max(initial=0) > 1.0 + 1e-3:
                raise ValueError(f"{path}: normals must lie in [-1, 1]")
        if normals.ndim != 3 or normals.shape[2] != 3:
            raise ValueError(
                f"{path}: normals have shape {normals.shape}, expected (H, W, 3)"
            )
        if not np.isfinite(normals).all():
            raise ValueError(f"{path}: normals contain NaN or inf")
        return np.ascontiguousarray(normals)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(backend_args={self.backend_args})"


def add_label_map(results: dict, task: str, label: np.ndarray) -> None:
    """Store ``task``'s label map and register it in ``results['seg_fields']``.

    mmseg's geometric transforms (``RandomCrop``, ``RandomFlip``, ...) move
    every map listed in ``seg_fields``; the multi-task ones follow it too.
    """
    key = TASKS[task].results_key
    results[key] = label
    seg_fields = results.setdefault("seg_fields", [])
    if key not in seg_fields:
        seg_fields.append(key)


def _load_npy(content: bytes, path: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(content), allow_pickle=False)
    except Exception as err:
        raise ValueError(f"{path}: unreadable .npy file ({err})") from err


def _check_class_range(label: np.ndarray, num_classes: int, task: str, path: str):
    counts = np.bincount(label.ravel(), minlength=IGNORE_INDEX + 1)
    bad = np.flatnonzero(counts[num_classes:IGNORE_INDEX]) + num_classes
    if bad.size:
        raise ValueError(
            f"{path}: {task} label values {bad.tolist()} out of range; expected "
            f"0..{num_classes - 1} or {IGNORE_INDEX} (ignore)"
        )
