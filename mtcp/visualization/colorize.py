"""Turn any task's label or prediction map into an RGB picture."""

from typing import Optional, Sequence

import numpy as np

from mtcp.tasks import task_kind


def colorize_task(
    task: str,
    data: np.ndarray,
    palette: Optional[Sequence[Sequence[int]]] = None,
    vmin: Optional[float] = None,
    vmax: Optional[float] = None,
) -> np.ndarray:
    """Colourise a label or prediction map of ``task`` as its kind does
    (:meth:`mtcp.tasks.BaseTaskKind.colorize`): class maps ``palette[c]``
    with 255 black; depth the 'jet' map from ``vmin`` to ``vmax`` (default:
    the valid range) with 0 black; normals ``(n + 1) / 2 * 255`` with the
    zero vector black; binary maps and boundaries grey with 255 black.

    Args:
        task (str): Task name (see :data:`mtcp.tasks.TASKS`).
        data (np.ndarray): (H, W) or (C, H, W); normals also (H, W, 3).
        palette (Sequence[Sequence[int]], optional): RGB colour per class,
            required for class maps.
        vmin (float, optional): Depth shown at the cold end.
        vmax (float, optional): Depth shown at the hot end.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB.
    """
    return task_kind(task).colorize(np.asarray(data), palette, vmin, vmax)
