"""Human parts: a class map that also reads PASCAL-Part ``.mat`` annotations,
grouped into the 6 parts of the multi-task protocol."""

import io
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from scipy.io import loadmat

from .class_map import ClassMap
from .registry import TASK_KINDS
from .task_table import IGNORE_INDEX

PERSON_CLASS_INDEX = 15

PART_CLASSES = (
    "background",
    "head",
    "torso",
    "upper arm",
    "lower arm",
    "upper leg",
    "lower leg",
)

PART_PALETTE = [
    [0, 0, 0],
    [220, 20, 60],
    [255, 165, 0],
    [60, 180, 75],
    [0, 130, 200],
    [145, 30, 180],
    [240, 230, 140],
]

_GROUPS = {
    1: ("hair", "head", "lear", "lebrow", "leye", "mouth", "nose", "rear")
    + ("rebrow", "reye"),
    2: ("torso", "neck"),
    3: ("luarm", "ruarm"),
    4: ("llarm", "rlarm", "lhand", "rhand"),
    5: ("luleg", "ruleg"),
    6: ("llleg", "rlleg", "lfoot", "rfoot"),
}

#: PASCAL-Part part name -> grouped part index (1..6).
PART_NAME_TO_GROUP: Dict[str, int] = {
    name: group for group, names in _GROUPS.items() for name in names
}


def decode_pascal_part_mat(
    content: bytes, shape: Tuple[int, int], path: str
) -> np.ndarray:
    """Paint the grouped human parts of a PASCAL-Part ``.mat`` annotation.

    ``loadmat(f)['anno'][0][0][1][0]`` lists the objects as (class name,
    class index, instance mask, parts), a part being (part name, mask).
    Every person (class index 15) that has parts is painted onto a zero map.
    An image without such a person has no human-parts label, so its whole
    map is ignore (255) and the metric skips it.

    Args:
        content (bytes): The raw ``.mat`` file.
        shape (tuple[int, int]): (H, W) of the image the annotation belongs to.
        path (str): File path, used in error messages.

    Returns:
        np.ndarray: (H, W) uint8 map, 0 background, 1..6 parts, or all 255.
    """
    try:
        objects = loadmat(io.BytesIO(content))["anno"][0][0][1][0]
    except (KeyError, IndexError, ValueError, TypeError) as err:
        raise ValueError(
            f"{path}: not a PASCAL-Part annotation; expected "
            f"loadmat(f)['anno'][0][0][1][0] to list the objects ({err})"
        ) from err
    parts_map = None
    for obj in objects:
        obj_parts = obj[3]
        if int(obj[1].ravel()[0]) != PERSON_CLASS_INDEX or obj_parts.size == 0:
            continue
        if parts_map is None:
            parts_map = np.zeros(shape, dtype=np.uint8)
        for part in obj_parts.ravel():
            name = str(part[0].ravel()[0])
            if name not in PART_NAME_TO_GROUP:
                raise ValueError(
                    f"{path}: unknown PASCAL-Part person part {name!r}; "
                    f"expected one of {sorted(PART_NAME_TO_GROUP)}"
                )
            mask = part[1].astype(bool)
            if mask.shape != tuple(shape):
                raise ValueError(
                    f"{path}: part mask {name!r} has shape {mask.shape}, "
                    f"expected the image size {tuple(shape)}"
                )
            parts_map[mask] = PART_NAME_TO_GROUP[name]
    if parts_map is None:
        return np.full(shape, IGNORE_INDEX, dtype=np.uint8)
    return parts_map


@TASK_KINDS.register_module()
class HumanParts(ClassMap):
    """A class map of human parts: PASCAL-Part ``.mat`` annotations
    (:func:`decode_pascal_part_mat`) or class-index ``.png`` files.

    Everything else is :class:`ClassMap`'s, except that a map without any
    labelled pixel is no warning (an image without a person has no parts),
    and that a dataset's ``reduce_zero_label`` (NYUD-v2's 1..K semantic
    classes) does not apply: part 0 is the background.
    """

    suffixes = (".png", ".mat")

    def decode(self, content: bytes, path: str, options: dict) -> np.ndarray:
        if osp.splitext(path)[1].lower() == ".mat":
            return decode_pascal_part_mat(content, options["shape"], path)
        return super().decode(content, path, dict(options, reduce_zero_label=False))

    def plausibility(self, label, dataset=None) -> List[str]:
        return []

    def saved_class_offset(self, reduce_zero_label: bool) -> int:
        return 0
