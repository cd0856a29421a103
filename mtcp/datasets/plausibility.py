"""Warnings for label maps that load without error but look wrong.

The loaders check types, sizes and ranges; what they cannot refuse is a
value that is possible but implausible, such as depth in millimetres (a
valid float32 map, 1000 times too large). ``check_dataset.py`` reports these
as warnings before a long training run.
"""

from typing import Dict, List, Optional

import numpy as np

from mtcp.structures import TASKS

# Largest plausible depth (metres) per dataset: NYUD-v2's Kinect reads up to
# about 10 m indoors.
MAX_DEPTH = {"nyud": 20.0}
# A labelled normal is a unit vector; more than this share of labelled pixels
# further than 0.1 from unit length is suspicious.
MAX_NON_UNIT_SHARE = 0.01


def label_warnings(results: dict, dataset: Optional[str] = None) -> List[str]:
    """Return one message per implausible label map of a loaded item.

    Args:
        results (dict): The item after ``LoadMultiTaskAnnotations``.
        dataset (str, optional): 'nyud', 'pascal', ... for the range checks
            that depend on the dataset.
    """
    warnings = []
    paths: Dict[str, str] = results.get("ann_paths", {})
    for task in results.get("tasks", []):
        info = TASKS[task]
        label = results.get(info.results_key)
        if label is None:
            continue
        where = paths.get(task, results.get("img_path"))
        if info.kind == "depth":
            warnings += _depth_warnings(label, where, MAX_DEPTH.get(dataset))
        elif info.kind == "normals":
            norms = np.linalg.norm(label, axis=-1)
            labelled = norms > 0
            if not labelled.any():
                warnings.append(f"{where}: normals: no labelled pixel")
            else:
                off = float(np.mean(np.abs(norms[labelled] - 1) > 0.1))
                if off > MAX_NON_UNIT_SHARE:
                    warnings.append(
                        f"{where}: normals: {off:.0%} of the labelled vectors "
                        "are not unit length (expected unit normals, or the "
                        "zero vector for invalid pixels)"
                    )
        elif info.kind == "class" and (label == info.pad_value).all():
            if task == "semseg":
                warnings.append(f"{where}: semseg: every pixel is unlabelled")
    return warnings


def _depth_warnings(depth: np.ndarray, where: str, max_depth: Optional[float]):
    valid = depth > 0
    if not valid.any():
        return [f"{where}: depth: no valid (> 0) pixel"]
    largest = float(depth[valid].max())
    if max_depth is not None and largest > max_depth:
        return [
            f"{where}: depth: values up to {largest:g}, beyond the plausible "
            f"{max_depth:g} m of this dataset; depth must be in metres "
            f"(millimetres would be 1000 times larger)"
        ]
    return []
