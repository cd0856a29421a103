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
        for k, pred in enumerate(preds):
            present = node[np.searchsorted(union, pred)]
            present = present[present >= 0]
            if len(present):
                sizes[k] = self._max_flow(
                    present, rows, cols, len(used_rows), len(used_cols)
                )
        return sizes

    @staticmethod
    def _max_flow(
        present: np.ndarray,
        rows: np.ndarray,
        cols: np.ndarray,
        num_rows: int,
        num_cols: int,
    ) -> int:
        """Maximum matching size between the ``present`` predicted pixels
        and all ground-truth pixels, over the pairs (rows, cols) sorted by
        row then column."""
        member = np.zeros(num_rows, dtype=bool)
        member[present] = True
        chosen = member[rows]
        sink = num_rows + num_cols + 1
        # nodes: 0 source, 1.. predicted, num_rows + 1.. ground truth, sink
        indices = np.concatenate(
            [present + 1, cols[chosen] + num_rows + 1, np.full(num_cols, sink)]
        )
        degree = np.concatenate(
            [
                [len(present)],
                np.bincount(rows[chosen], minlength=num_rows),
                np.ones(num_cols, dtype=np.int64),
                [0],
            ]
        )
        indptr = np.concatenate([[0], np.cumsum(degree)])
        network = csr_matrix(
            (np.ones(len(indices), dtype=np.int32), indices, indptr),
            shape=(sink + 1, sink + 1),
        )
        return int(maximum_flow(network, 0, sink, method="dinic").flow_value)

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
                "(pip install --no-deps pyEdgeEval, see requirements/optional.txt); "
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
