"""Label formats beyond the two multi-task packages.

Used by :class:`LoadMultiTaskAnnotations` for the generic folder dataset and
Cityscapes: 16-bit depth PNGs with a scale, Cityscapes disparity PNGs with
their camera file, class maps remapped through a lookup table, and the
all-ignore map of an image without a label for a task.
"""

import json
from typing import Sequence, Tuple

import mmcv
import numpy as np

from mtcp.structures import TASKS


def missing_label(task: str, shape: Tuple[int, int]) -> np.ndarray:
    """The label map of an image that has no label for ``task``.

    Every pixel is ignored: 255 for class and binary maps, 0 (invalid) for
    depth, the zero vector for normals. Losses skip such pixels (an exact,
    attached 0 when a whole batch has none) and metrics pool over the valid
    pixels only, so the image counts for the other tasks alone.

    Args:
        task (str): Task name.
        shape (tuple[int, int]): (H, W) of the image.
    """
    info = TASKS[task]
    if info.kind == "normals":
        return np.zeros((*shape, 3), dtype=np.float32)
    if info.kind == "depth":
        return np.zeros(shape, dtype=np.float32)
    return np.full(shape, int(info.pad_value), dtype=np.uint8)


def read_single_channel_png(content: bytes, path: str) -> np.ndarray:
    """Decode a one-channel 8- or 16-bit PNG, keeping its integer values."""
    try:
        img = mmcv.imfrombytes(content, flag="unchanged", backend="cv2")
    except Exception as err:
        raise ValueError(f"{path}: unreadable image ({err})") from err
    if img is None:
        raise ValueError(f"{path}: unreadable image")
    if img.ndim != 2:
        raise ValueError(
            f"{path}: expected a single-channel PNG, got shape {img.shape}"
        )
    if img.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"{path}: PNG has dtype {img.dtype}, expected uint8/uint16")
    return img


def depth_from_png(content: bytes, path: str, scale: float) -> np.ndarray:
    """Metric depth ``v / scale`` from an 8- or 16-bit PNG; 0 stays invalid.

    Args:
        content (bytes): The PNG file.
        path (str): Its path, for error messages.
        scale (float): Stored value per metre (e.g. 1000 for millimetres).
    """
    raw = read_single_channel_png(content, path)
    return (raw.astype(np.float64) / scale).astype(np.float32)


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


def apply_label_map(
    label: np.ndarray, lut: Sequence[int], path: str, task: str
) -> np.ndarray:
    """Map stored class values through a 256-entry lookup table."""
    lut = np.asarray(lut)
    if lut.shape != (256,):
        raise ValueError(
            f"{path}: the {task} label map must have 256 entries, got {lut.shape}"
        )
    if label.dtype != np.uint8:
        raise TypeError(
            f"{path}: {task} label map has dtype {label.dtype}, expected uint8"
        )
    return lut.astype(np.uint8)[label]
