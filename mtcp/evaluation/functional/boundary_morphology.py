"""Boundary maps of a label map and one-pixel thinning, as MATLAB computes
them in the boundary benchmark (SEISM's ``seg2bmap`` and
``bwmorph(.., 'thin', Inf)``).
"""

import numpy as np

from mtcp.evaluation.metrics.base_meter import ArrayLike


def seg2bmap(seg: ArrayLike) -> np.ndarray:
    """Return the boundary pixels of a label map, as SEISM's ``seg2bmap``.

    A pixel is a boundary pixel when its label differs from that of its
    east, south or south-east neighbour, a neighbour outside the map
    counting as label 0; in the last row only the east neighbour is
    compared, in the last column only the south one, and the bottom-right
    pixel is never a boundary. Boundaries thus lie half a pixel towards the
    origin from the true region boundary (SEISM ``src/misc/seg2bmap.m``,
    David Martin's BSDS code).

    Args:
        seg (np.ndarray): (H, W) label map of any numeric dtype; a binary
            edge map is a two-label map whose boundaries are on both sides
            of every edge.

    Returns:
        np.ndarray: (H, W) bool boundary map.
    """
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise ValueError(f"seg2bmap needs an (H, W) label map, got shape {seg.shape}")
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1] = seg[1:]
    south_east[:-1, :-1] = seg[1:, 1:]
    bmap = (seg != east) | (seg != south) | (seg != south_east)
    bmap[-1] = seg[-1] != east[-1]
    bmap[:, -1] = seg[:, -1] != south[:, -1]
    bmap[-1, -1] = False
    return bmap


def _deletion_table(second: bool) -> np.ndarray:
    """Which 3 x 3 neighbourhoods delete the centre in one subiteration.

    Bit k - 1 of a neighbourhood code is neighbour x_k, numbered
    counter-clockwise from the east one: x1 = E, x2 = NE, x3 = N, x4 = NW,
    x5 = W, x6 = SW, x7 = S, x8 = SE (x9 = x1). The centre is deleted when
    (Lam, Lee and Suen, "Thinning methodologies - a comprehensive survey",
    TPAMI 14(9), 1992, p. 879; the conditions MATLAB documents for
    ``bwmorph(.., 'thin')``):

    - G1: X_H = 1, with X_H the number of i in 1..4 with x_{2i-1} = 0 and
      (x_{2i} = 1 or x_{2i+1} = 1);
    - G2: 2 <= min(n1, n2) <= 3, with n1 = sum_k (x_{2k-1} or x_{2k}) and
      n2 = sum_k (x_{2k} or x_{2k+1}), k = 1..4;
    - G3 (first subiteration): (x2 or x3 or not x8) and x1 is false;
      G3' (second): (x6 or x7 or not x4) and x5 is false.
    """
    table = np.zeros(256, dtype=bool)
    for code in range(256):
        x = [None] + [(code >> k) & 1 for k in range(8)] + [code & 1]
        crossings = sum(
            1 for i in range(1, 5) if not x[2 * i - 1] and (x[2 * i] or x[2 * i + 1])
        )
        n1 = sum(1 for k in range(1, 5) if x[2 * k - 1] or x[2 * k])
        n2 = sum(1 for k in range(1, 5) if x[2 * k] or x[2 * k + 1])
        if second:
            g3 = not ((x[6] or x[7] or not x[4]) and x[5])
        else:
            g3 = not ((x[2] or x[3] or not x[8]) and x[1])
        table[code] = crossings == 1 and 2 <= min(n1, n2) <= 3 and g3
    return table


_DELETION_TABLES = (_deletion_table(False), _deletion_table(True))


def thin(mask: ArrayLike) -> np.ndarray:
    """Thin a binary map to one-pixel lines: MATLAB's
    ``bwmorph(mask, 'thin', Inf)``.

    Each iteration runs two subiterations; each deletes, in parallel, the
    foreground pixels whose 3 x 3 neighbourhood (outside the map counts as
    background) satisfies G1, G2 and G3, resp. G3' (see
    :func:`_deletion_table`); iterations repeat until nothing changes.
    scikit-image's ``skimage.morphology.thin`` implements the same
    algorithm with the same tables. Only pixels whose neighbourhood changed
    since a subiteration last ran are examined again, so the cost grows
    with the foreground area, not with the image size times the
    iterations.

    Args:
        mask (np.ndarray): (H, W) map; nonzero pixels are foreground.

    Returns:
        np.ndarray: (H, W) bool thinned map.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"thin needs an (H, W) map, got shape {mask.shape}")
    height, width = mask.shape
    stride = width + 2
    # a zero frame makes every neighbour read valid
    flat = np.zeros((height + 2) * stride, dtype=np.uint8)
    flat.reshape(height + 2, stride)[1:-1, 1:-1] = mask != 0
    # x1..x8: E, NE, N, NW, W, SW, S, SE
    offsets = np.array(
        [1, 1 - stride, -stride, -1 - stride, -1, stride - 1, stride, stride + 1]
    )
    window = np.concatenate([[0], offsets])
    near = np.zeros(len(flat), dtype=bool)
    candidates = [np.flatnonzero(flat), None]
    previous = np.zeros(0, dtype=np.int64)
    idle = 0
    sub = 0
    while idle < 2:
        pixels = candidates[sub]
        code = np.zeros(len(pixels), dtype=np.uint8)
        for bit, offset in enumerate(offsets):
            code |= flat[pixels + offset] << np.uint8(bit)
        deleted = pixels[_DELETION_TABLES[sub][code]]
        flat[deleted] = 0
        idle = 0 if len(deleted) else idle + 1
        # the other subiteration need only look again at pixels next to a
        # deletion since it last ran (this one's and its own last deletions)
        other = 1 - sub
        if candidates[other] is None:
            candidates[other] = np.flatnonzero(flat)
        else:
            near[(np.concatenate([deleted, previous])[:, None] + window).ravel()] = True
            near &= flat.view(bool)
            candidates[other] = np.flatnonzero(near)
            near[candidates[other]] = False
        previous = deleted
        sub = other
    return flat.reshape(height + 2, stride)[1:-1, 1:-1].astype(bool)
