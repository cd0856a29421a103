"""Boundaries (edges): 1 on a boundary pixel, 0 elsewhere, 255 = unlabelled."""

from .binary_map import BinaryMap
from .registry import TASK_KINDS


@TASK_KINDS.register_module()
class Boundary(BinaryMap):
    """A binary boundary map (edge detection).

    Read, transformed, predicted and saved like :class:`BinaryMap` (files
    ``.png`` / ``.npy`` binarised at 0.5; sigmoid probabilities saved as
    uint8 ``.png`` of ``255 p``), but trained with the boundary literature's
    balanced cross-entropy, positives weighted 0.95 (HED, ASTMT, MTI-Net).
    """

    default_loss = dict(type="BalancedBCELoss", pos_weight=0.95)
    has_meter = False
    delta_m = None
