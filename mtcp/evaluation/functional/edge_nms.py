"""Piotr Dollar's edge non-maximum suppression, as SEISM's
``read_one_cont_png`` applies it before thresholding a boundary map.

``read_one_cont_png`` (SEISM ``src/io/read_one_cont_png.m``) reads the PNG
as single precision ``E = v / 255``, estimates the edge orientation from
the second derivatives of a triangle-smoothed copy,

    [Ox, Oy] = gradient2(convTri(E, 4)); [Oxx, ~] = gradient2(Ox);
    [Oxy, Oyy] = gradient2(Oy);
    O = mod(atan(Oyy .* sign(-Oxy) ./ (Oxx + 1e-5)), pi);

and calls ``edgesNmsMex(E, O, 1, 5, 1.01, 1)`` (SEISM
``src/piotr_edges/edgesNmsMex.cpp``, from the Structured Edge Detection
Toolbox): a nonzero pixel is zeroed when 1.01 times its value is below the
bilinearly interpolated value one pixel away on either side along the
orientation (coordinates clamped to ``[0, size - 1.001]``), then pixels
within 5 of the border are scaled by their distance to it over 5. The maps
are single precision here as there (the filter below is summed in double,
then rounded); ``convTri`` is a separable
``[1 2 3 4 5 4 3 2 1] / 25`` filter with symmetric padding (Piotr's
toolbox ``convTri.m``, ``convConst.cpp``) and ``gradient2`` takes central
differences inside and one-sided ones on the border (``gradientMex.cpp``),
as ``np.gradient`` does. This is a reimplementation from that description;
it agrees with the toolbox up to single-precision rounding.
"""

import numpy as np
from scipy import ndimage

# convTri(E, 4): the 9-tap triangle filter
_TRIANGLE = np.array([1, 2, 3, 4, 5, 4, 3, 2, 1], dtype=np.float64) / 25
NMS_RADIUS = 1
BORDER = 5
MULTIPLIER = np.float32(1.01)


def conv_tri(image: np.ndarray) -> np.ndarray:
    """``convTri(image, 4)``: the triangle filter along both axes with
    symmetric padding (scipy's ``'reflect'``), returned in single
    precision."""
    out = ndimage.correlate1d(
        image.astype(np.float64), _TRIANGLE, axis=0, mode="reflect"
    )
    out = ndimage.correlate1d(out, _TRIANGLE, axis=1, mode="reflect")
    return out.astype(np.float32)


def edge_orientation(edge: np.ndarray) -> np.ndarray:
    """Edge orientation in [0, pi) as ``read_one_cont_png`` computes it.

    Args:
        edge (np.ndarray): (H, W) float32 edge map, H, W >= 2.

    Returns:
        np.ndarray: (H, W) float32 orientation.
    """
    smooth = conv_tri(edge)
    ox = np.gradient(smooth, axis=1)
    oy = np.gradient(smooth, axis=0)
    oxx = np.gradient(ox, axis=1)
    oxy, oyy = np.gradient(oy, axis=1), np.gradient(oy, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = oyy * np.sign(-oxy) / (oxx + np.float32(1e-5))
    orientation = np.mod(np.arctan(ratio), np.float32(np.pi))
    # 0 / 0 is NaN in MATLAB too, where the mex then reads out of bounds;
    # such pixels need Oxx = -1e-5 exactly and keep orientation 0 here
    return np.nan_to_num(orientation, nan=0.0).astype(np.float32)


def _interpolate(edge: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear value of ``edge`` at float32 (x, y), clamped like the mex."""
    height, width = edge.shape
    x = np.clip(x, 0, np.float32(width - 1.001))
    y = np.clip(y, 0, np.float32(height - 1.001))
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    dx0, dy0 = x - x0.astype(np.float32), y - y0.astype(np.float32)
    dx1, dy1 = np.float32(1) - dx0, np.float32(1) - dy0
    return (
        edge[y0, x0] * dx1 * dy1
        + edge[y0, x0 + 1] * dx0 * dy1
        + edge[y0 + 1, x0] * dx1 * dy0
        + edge[y0 + 1, x0 + 1] * dx0 * dy0
    )


def suppress(edge: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """``edgesNmsMex(edge, orientation, 1, 5, 1.01, 1)``.

    Args:
        edge (np.ndarray): (H, W) float32 edge map, H, W >= 2.
        orientation (np.ndarray): (H, W) float32 orientation.

    Returns:
        np.ndarray: (H, W) float32 suppressed map.
    """
    edge = edge.astype(np.float32)
    out = edge.copy()
    ys, xs = np.nonzero(edge)
    angle = orientation[ys, xs]
    cos, sin = np.cos(angle), np.sin(angle)
    value = edge[ys, xs] * MULTIPLIER
    weaker = np.zeros(len(ys), dtype=bool)
    for d in range(-NMS_RADIUS, NMS_RADIUS + 1):
        if d:
            step = np.float32(d)
            x = xs.astype(np.float32) + step * cos
            y = ys.astype(np.float32) + step * sin
            weaker |= value < _interpolate(edge, x, y)
    out[ys[weaker], xs[weaker]] = 0
    height, width = edge.shape
    border = min(BORDER, width // 2, height // 2)
    ramp = np.arange(border, dtype=np.float32) / np.float32(border)
    columns = np.ones(width, dtype=np.float32)
    columns[:border] = ramp
    columns[width - border :] = ramp[::-1]
    rows = np.ones(height, dtype=np.float32)
    rows[:border] = ramp
    rows[height - border :] = ramp[::-1]
    return (out * columns[None, :]) * rows[:, None]


def edge_nms(edge: np.ndarray) -> np.ndarray:
    """Orientation estimate and suppression of ``read_one_cont_png``.

    Args:
        edge (np.ndarray): (H, W) map ``v / 255`` of the PNG levels ``v``
            (cast to float32), H, W >= 2.

    Returns:
        np.ndarray: (H, W) float32 map, thresholded with ``>`` next.
    """
    if edge.ndim != 2 or min(edge.shape) < 2:
        raise ValueError(
            f"edge NMS needs an (H, W) map with H, W >= 2, got {edge.shape}"
        )
    edge = edge.astype(np.float32)
    return suppress(edge, edge_orientation(edge))
