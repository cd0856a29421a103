"""PASCAL-Context boundaries from the context label maps of the PASCAL_MT
package (``<root>/pascal-context/trainval/<id>.mat``, key ``LabelMap``).

The field derives two different maps from the same label map:

- the training target of the loaders of ASTMT
  (``fblib/dataloaders/pascal_context.py``, ``_load_edge``), MTI-Net and
  InvPT (``data/pascal_context.py``): ``thin(|Laplacian(LabelMap)| > 0)``,
  with OpenCV's 3 x 3 Laplacian (``cv2.Laplacian(.., cv2.CV_64F)``, aperture
  1) and scikit-image's ``thin`` (:func:`laplacian_edges`);
- the evaluation ground truth of SEISM (``src/gt_wrappers/db_gt.m`` for
  ``PASCALContext`` loads the same ``LabelMap``; ``edgesEvalImg.m`` takes
  ``bwmorph(seg2bmap(LabelMap), 'thin', Inf)``): give the label map itself
  to :class:`~mtcp.evaluation.BoundaryMeter`, which derives those
  boundaries.
"""

import cv2
import numpy as np
from scipy.io import loadmat

from mtcp.evaluation.functional import thin

LABEL_MAP_KEY = "LabelMap"


def load_context_label_map(path: str) -> np.ndarray:
    """Read the PASCAL-Context label map of one image.

    Args:
        path (str): ``<root>/pascal-context/trainval/<id>.mat``.

    Returns:
        np.ndarray: (H, W) int32 label map.
    """
    content = loadmat(path)
    if LABEL_MAP_KEY not in content:
        keys = sorted(k for k in content if not k.startswith("__"))
        raise KeyError(f"{path}: no {LABEL_MAP_KEY!r} in the .mat file (it has {keys})")
    label_map = np.asarray(content[LABEL_MAP_KEY])
    if label_map.ndim != 2:
        raise ValueError(
            f"{path}: {LABEL_MAP_KEY} must be an (H, W) map, got shape {label_map.shape}"
        )
    return label_map.astype(np.int32)


def laplacian_edges(label_map: np.ndarray) -> np.ndarray:
    """The loaders' training edges: ``thin(|Laplacian(label_map)| > 0)``.

    Args:
        label_map (np.ndarray): (H, W) label map.

    Returns:
        np.ndarray: (H, W) uint8 edge map, 1 on edges.
    """
    label_map = np.asarray(label_map)
    if label_map.ndim != 2:
        raise ValueError(f"the label map must be (H, W), got shape {label_map.shape}")
    laplacian = cv2.Laplacian(label_map.astype(np.float64), cv2.CV_64F)
    return thin(np.abs(laplacian) > 0).astype(np.uint8)
