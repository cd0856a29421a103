"""One-to-one matching of predicted and ground-truth boundary pixels.

Two pixels may be matched when their Euclidean distance is at most the
tolerance ``max_dist * sqrt(H^2 + W^2)`` (BSDS's ``correspondPixels``,
``match.cc``: ``d^2 <= maxDist^2``). The number of matched pairs is what
the benchmark counts (``cntR`` and ``cntP``, with one ground truth per
image).

:class:`ExactMatcher` finds a maximum matching (as a maximum flow). BSDS's ``correspondPixels`` solves a
min-cost assignment on a sparsified graph instead (six random outlier
edges per pixel, seeded from the clock), so it can miss a few matches per
thousand and is not repeatable; :class:`BSDSMatcher` calls the Cython port
of that code in the optional ``pyEdgeEval`` package, to compare with it.
"""

import math
from typing import List, Sequence, Tuple

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow

# neighbour offsets gathered per block of predicted pixels (memory bound)
_BLOCK = 4096


def tolerance(max_dist: float, shape: Sequence[int]) -> float:
    """The matching radius in pixels: ``max_dist`` times the diagonal."""
    return max_dist * math.sqrt(shape[0] ** 2 + shape[1] ** 2)


def disc_offsets(radius: float) -> np.ndarray:
    """(K, 2) integer offsets (dy, dx) with dy^2 + dx^2 <= radius^2."""
    reach = int(math.floor(radius))
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    inside = dy**2 + dx**2 <= radius**2
    return np.stack([dy[inside], dx[inside]], axis=1)


class ExactMatcher:
    """Maximum one-to-one matching sizes of several predicted maps against
    one ground truth.

    The candidate pairs of the union of all predicted pixels are found
    once; each map keeps the pairs of its own pixels, and the size of a
    maximum matching is the maximum flow of the unit-capacity network
    source -> predicted pixel -> ground-truth pixel -> sink (Dinic's
    algorithm, scipy's ``maximum_flow``; on unit networks it runs in
    O(E sqrt(V)), like Hopcroft-Karp).

    Args:
        shape (Sequence[int]): (H, W) of the maps.
        radius (float): Matching radius in pixels.
    """

    def __init__(self, shape: Sequence[int], radius: float) -> None:
        self.shape = tuple(shape)
        self.radius = radius

    def match_sizes(self, preds: Sequence[np.ndarray], gt: np.ndarray) -> List[int]:
        """Return the maximum matching size of each predicted map.

        Args:
            preds (Sequence[np.ndarray]): Flat indices (into an (H, W) map)
                of each map's predicted boundary pixels, sorted.
            gt (np.ndarray): Flat indices of the ground-truth boundary
                pixels, sorted.

        Returns:
            list[int]: One matching size per map.
        """
        sizes = [0] * len(preds)
        if not len(gt) or not any(len(p) for p in preds):
            return sizes
        union = np.unique(np.concatenate(preds))
        rows, cols = self._pairs(union, gt)
        if not len(rows):
            return sizes
        # only pixels with a candidate take part; renumber them
        used_rows, rows = np.unique(rows, return_inverse=True)
        used_cols, cols = np.unique(cols, return_inverse=True)
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        node = np.full(len(union), -1, dtype=np.int64)
        node[used_rows] = np.arange(len(used_rows))
        # a maximum matching of one map, restricted to the next map's
        # pixels, is a matching there: augment it instead of starting over
        mate = np.full(len(used_rows), -1, dtype=np.int64)
        for k, pred in enumerate(preds):
            present = node[np.searchsorted(union, pred)]
            member = np.zeros(len(used_rows), dtype=bool)
            member[present[present >= 0]] = True
            mate[~member] = -1
            chosen = member[rows]
            mate = _augment(rows[chosen], cols[chosen], mate, len(used_cols))
            sizes[k] = int(np.count_nonzero(mate >= 0))
        return sizes

    def _pairs(self, pred: np.ndarray, gt: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Candidate pairs (index into ``pred``, index into ``gt``)."""
        height, width = self.shape
        offsets = disc_offsets(self.radius)
        reach = int(offsets[:, 0].max())
        stride = width + 2 * reach
        lookup = np.full((height + 2 * reach) * stride, -1, dtype=np.int64)
        lookup[(gt // width + reach) * stride + gt % width + reach] = np.arange(len(gt))
        shifts = offsets[:, 0] * stride + offsets[:, 1]
        base = (pred // width + reach) * stride + pred % width + reach
        rows, cols = [], []
        for start in range(0, len(pred), _BLOCK):
            hits = lookup[base[start : start + _BLOCK, None] + shifts[None, :]]
            r, c = np.nonzero(hits >= 0)
            rows.append(r + start)
            cols.append(hits[r, c])
        return np.concatenate(rows), np.concatenate(cols)


class BSDSMatcher:
    """BSDS's ``correspondPixels`` through the optional ``pyEdgeEval``
    package (``pip install --no-deps pyEdgeEval`` builds it; its matcher is
    BSDS500's C++ code under the GPL-2.0).

    Args:
        max_dist (float): Tolerance as a fraction of the image diagonal.
    """

    def __init__(self, max_dist: float) -> None:
        try:
            from pyEdgeEval._lib import correspond_pixels
        except ImportError as error:
            raise ImportError(
                "matcher='bsds' needs the optional pyEdgeEval package "
                "(pip install --no-deps -r requirements/boundary.txt); "
                "matcher='exact' needs nothing"
            ) from error
        self._correspond = correspond_pixels
        self.max_dist = max_dist

    def match_counts(self, preds: Sequence[np.ndarray], gt: np.ndarray) -> np.ndarray:
        """Return (K, 2) counts: matched ground-truth pixels and matched
        predicted pixels of each (H, W) bool predicted map."""
        counts = np.zeros((len(preds), 2), dtype=np.int64)
        for k, pred in enumerate(preds):
            if pred.any() and gt.any():
                match_pred, match_gt, _, _ = self._correspond(
                    pred.astype(np.float64), gt.astype(np.float64), self.max_dist
                )
                counts[k] = np.count_nonzero(match_gt), np.count_nonzero(match_pred)
        return counts


def _augment(
    rows: np.ndarray, cols: np.ndarray, mate: np.ndarray, num_cols: int
) -> np.ndarray:
    """Grow a matching to a maximum one.

    Args:
        rows (np.ndarray): Row of each candidate pair.
        cols (np.ndarray): Column of each candidate pair.
        mate (np.ndarray): Column matched to each row, or -1; every matched
            pair is a candidate pair.
        num_cols (int): Number of columns.

    Returns:
        np.ndarray: ``mate`` of a maximum matching.

    The flow network of the matching's residual graph (source -> free row
    -> column along an unmatched pair, column -> its matched row, free
    column -> sink) has a maximum flow equal to the number of augmenting
    paths still to apply (Dinic's algorithm, scipy's ``maximum_flow``).
    """
    num_rows = len(mate)
    matched = mate[rows] == cols
    col_mate = np.full(num_cols, -1, dtype=np.int64)
    col_mate[mate[mate >= 0]] = np.flatnonzero(mate >= 0)
    free_rows = np.flatnonzero(mate < 0)
    free_rows = free_rows[np.isin(free_rows, rows[~matched])]
    free_cols = np.flatnonzero(col_mate < 0)
    if not len(free_rows) or not len(free_cols):
        return mate
    sink = num_rows + num_cols + 1
    # nodes: 0 source, 1.. rows, num_rows + 1.. columns, sink
    tails = np.concatenate(
        [
            np.zeros(len(free_rows), dtype=np.int64),
            rows[~matched] + 1,
            cols[matched] + num_rows + 1,
            free_cols + num_rows + 1,
        ]
    )
    heads = np.concatenate(
        [
            free_rows + 1,
            cols[~matched] + num_rows + 1,
            rows[matched] + 1,
            np.full(len(free_cols), sink),
        ]
    )
    network = csr_matrix(
        (np.ones(len(tails), dtype=np.int32), (tails, heads)),
        shape=(sink + 1, sink + 1),
    )
    result = maximum_flow(network, 0, sink, method="dinic")
    if result.flow_value == 0:
        return mate
    flow = result.flow
    gained = _entries(flow, rows[~matched] + 1, cols[~matched] + num_rows + 1) > 0
    released = _entries(flow, cols[matched] + num_rows + 1, rows[matched] + 1) > 0
    mate = mate.copy()
    mate[rows[matched][released]] = -1
    mate[rows[~matched][gained]] = cols[~matched][gained]
    return mate


def _entries(matrix: csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values of a CSR matrix with sorted indices at (rows, cols), each of
    which is a stored entry."""
    size = matrix.shape[1]
    keys = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr)) * size
    keys += matrix.indices
    return matrix.data[np.searchsorted(keys, rows * size + cols)]
