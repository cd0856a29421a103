"""PASCAL-Context edges from a context label map."""

import numpy as np
import pytest
from scipy.io import savemat

from mtcp.tasks.boundary import laplacian_edges, load_context_label_map


def test_laplacian_edges_by_hand():
    label_map = np.ones((6, 7), dtype=np.int32)
    label_map[:, 4:] = 2
    # |Laplacian| > 0 on columns 3 and 4 (each sees the other label); the
    # first thinning subiteration removes column 4 and the 2 x 2 corner
    # pixel (0, 3), leaving column 3 from row 1 down
    expected = np.zeros((6, 7), dtype=np.uint8)
    expected[1:, 3] = 1
    np.testing.assert_array_equal(laplacian_edges(label_map), expected)


def test_constant_label_map_has_no_edge():
    assert not laplacian_edges(np.full((5, 5), 7)).any()


def test_load_context_label_map(tmp_path):
    label_map = np.arange(12, dtype=np.uint16).reshape(3, 4) + 400
    path = str(tmp_path / "2008_000002.mat")
    savemat(path, {"LabelMap": label_map})
    loaded = load_context_label_map(open(path, "rb").read(), path)
    assert loaded.dtype == np.int32
    np.testing.assert_array_equal(loaded, label_map)
    savemat(path, {"labels": label_map})
    with pytest.raises(KeyError, match="2008_000002.mat: no 'LabelMap'"):
        load_context_label_map(open(path, "rb").read(), path)
