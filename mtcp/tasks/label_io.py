"""Reading and writing label and prediction files, shared by the task kinds."""

import io
import os.path as osp
from typing import Tuple

import cv2
import mmcv
import numpy as np
from mmengine.utils import mkdir_or_exist
from PIL import Image


def read_png(content: bytes, path: str, channels: int = 1) -> np.ndarray:
    """Decode an 8-bit label PNG: (H, W) with ``channels=1`` (palette indices
    kept, not colours), (H, W, 3) RGB with ``channels=3``."""
    try:
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


def read_png_16(content: bytes, path: str) -> np.ndarray:
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


def read_npy(content: bytes, path: str) -> np.ndarray:
    """Load a ``.npy`` file (no pickles)."""
    try:
        return np.load(io.BytesIO(content), allow_pickle=False)
    except Exception as err:
        raise ValueError(f"{path}: unreadable .npy file ({err})") from err


def squeeze_hw(array: np.ndarray, path: str, what: str) -> np.ndarray:
    """An (H, W) or (H, W, 1) array as (H, W)."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"{path}: {what} has shape {array.shape}, expected (H, W)")
    return array


def save_png(array: np.ndarray, path_stem: str) -> str:
    """Write ``array`` (H, W) or (H, W, 3) RGB, rounded and clipped to
    uint8, as ``<path_stem>.png``; returns the path."""
    path = f"{path_stem}.png"
    mkdir_or_exist(osp.dirname(path) or ".")
    Image.fromarray(np.clip(np.round(array), 0, 255).astype(np.uint8)).save(path)
    return path


def save_npy(array: np.ndarray, path_stem: str) -> str:
    """Write ``array`` as ``<path_stem>.npy``; returns the path."""
    path = f"{path_stem}.npy"
    mkdir_or_exist(osp.dirname(path) or ".")
    np.save(path, array)
    return path


def resize_nearest(label: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize to ``size`` = (w, h), sampled at pixel
    centres (cv2's INTER_NEAREST samples at corners, half a pixel off the
    image's bilinear grid)."""
    return cv2.resize(label, size, interpolation=cv2.INTER_NEAREST_EXACT)


def as_hw(data: np.ndarray, what: str) -> np.ndarray:
    """A (H, W) or (1, H, W) map as (H, W)."""
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise ValueError(
            f"{what}: expected an (H, W) or (1, H, W) map, got shape {data.shape}"
        )
    return data


def grey(data: np.ndarray, ignore_index: int) -> np.ndarray:
    """Probabilities or 0/1 labels (H, W) as an RGB grey picture; the
    ignore value is black."""
    shade = np.clip(data.astype(np.float32), 0, 1) * 255
    shade = np.where(data == ignore_index, 0, shade).round().astype(np.uint8)
    return np.repeat(shade[..., None], 3, axis=2)
