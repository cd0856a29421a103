"""Turn any task's label or prediction map into an RGB picture."""

from typing import Optional, Sequence

import cv2
import numpy as np

from mtcp.structures import IGNORE_INDEX, get_task


def _as_hw(task: str, data: np.ndarray) -> np.ndarray:
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise ValueError(
            f"colorize_task({task!r}): expected an (H, W) or (1, H, W) map, "
            f"got shape {data.shape}"
        )
    return data


def colorize_task(
    task: str,
    data: np.ndarray,
    palette: Optional[Sequence[Sequence[int]]] = None,
    vmin: Optional[float] = None,
    vmax: Optional[float] = None,
) -> np.ndarray:
    """Colourise a label or prediction map of ``task``.

    - class maps (semseg, parts): ``palette[c]``; 255 (ignore) is black.
    - depth: the 'jet' colour map from ``vmin`` (default: the smallest valid
      value) to ``vmax`` (default: the largest); 0 (invalid) is black.
    - normals: ``(n + 1) / 2 * 255`` per channel; the zero vector is black.
    - saliency / edge: probabilities or 0/1 labels as grey; 255 is black.

    Args:
        task (str): Task name (see ``mtcp.structures.TASKS``).
        data (np.ndarray): (H, W) or (1, H, W); normals (3, H, W) or (H, W, 3).
        palette (Sequence[Sequence[int]], optional): RGB colour per class,
            required for class maps.
        vmin (float, optional): Depth shown at the cold end.
        vmax (float, optional): Depth shown at the hot end.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB.
    """
    kind = get_task(task).kind
    data = np.asarray(data)
    if kind == "normals":
        if data.ndim == 3 and data.shape[0] == 3 and data.shape[2] != 3:
            data = data.transpose(1, 2, 0)
        if data.ndim != 3 or data.shape[2] != 3:
            raise ValueError(
                f"colorize_task('normals'): expected (3, H, W) or (H, W, 3), "
                f"got shape {data.shape}"
            )
        rgb = np.clip((data + 1) / 2 * 255, 0, 255).round().astype(np.uint8)
        rgb[~data.any(axis=2)] = 0
        return rgb
    data = _as_hw(task, data)
    if kind == "class":
        if palette is None:
            raise ValueError(f"colorize_task({task!r}) needs the class palette")
        lut = np.zeros((256, 3), dtype=np.uint8)
        lut[: len(palette)] = np.asarray(palette, dtype=np.uint8)
        lut[IGNORE_INDEX] = 0
        labels = data.astype(np.int64)
        if labels.min(initial=0) < 0 or labels.max(initial=0) > IGNORE_INDEX:
            raise ValueError(f"colorize_task({task!r}): labels outside 0..255")
        if ((labels >= len(palette)) & (labels != IGNORE_INDEX)).any():
            raise ValueError(
                f"colorize_task({task!r}): a label exceeds the palette's "
                f"{len(palette)} classes"
            )
        return lut[labels]
    if kind == "depth":
        depth = data.astype(np.float32)
        valid = depth > 0
        if not valid.any():
            return np.zeros(depth.shape + (3,), dtype=np.uint8)
        low = depth[valid].min() if vmin is None else vmin
        high = depth[valid].max() if vmax is None else vmax
        scaled = np.clip((depth - low) / max(high - low, 1e-6), 0, 1)
        bgr = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET)
        rgb = bgr[..., ::-1].copy()
        rgb[~valid] = 0
        return rgb
    grey = np.clip(data.astype(np.float32), 0, 1) * 255
    grey = np.where(data == IGNORE_INDEX, 0, grey).round().astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)
