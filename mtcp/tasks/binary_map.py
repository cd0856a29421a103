"""Binary maps (saliency): 0/1 per pixel, 255 = unlabelled."""

import os.path as osp

import numpy as np
import torch

from .base_kind import BaseTaskKind
from .label_io import as_hw, grey, read_npy, read_png, save_npy, save_png, squeeze_hw
from .legend import ramp_legend
from .registry import TASK_KINDS
from .task_table import IGNORE_INDEX


@TASK_KINDS.register_module()
class BinaryMap(BaseTaskKind):
    """A 0/1 map, 255 = unlabelled (saliency).

    - Files: uint8 ``.png``, positive where ``v / 255 > 0.5``; ``.npy`` of
      values in [0, 1], binarised at 0.5.
    - Transforms: nearest-neighbour resize, plain flips, padded with 255.
    - Model: one channel, class-balanced binary cross-entropy on logits; the
      prediction is the sigmoid probability (1, H, W); test-time
      augmentation averages it.
    - Metric: maxF over thresholds 0.05..0.95 (:class:`SaliencyMeter`);
      Delta_m uses maxF. Saved as uint8 ``.png`` of ``255 p``.
    """

    suffixes = (".png", ".npy")
    default_loss = dict(type="BalancedBCELoss")
    delta_m = ("maxF", False)
    export_format = "probability"

    def decode(self, content: bytes, path: str, options: dict) -> np.ndarray:
        ext = osp.splitext(path)[1].lower()
        if ext == ".png":
            values = read_png(content, path) / 255.0
        elif ext == ".npy":
            values = squeeze_hw(read_npy(content, path), path, self.name)
            if values.min() < 0 or values.max() > 1:
                raise ValueError(f"{path}: values must lie in [0, 1]")
        else:
            raise self.unsupported(path)
        return (values > 0.5).astype(np.uint8)

    def encode(self, label: np.ndarray, path_stem: str, suffix: str) -> str:
        """``.npy`` of 0/1 floats or ``.png`` of 0/255 (unlabelled as 0)."""
        label = np.where(label == IGNORE_INDEX, 0, label)
        if suffix == ".npy":
            return save_npy(label.astype(np.float32), path_stem)
        return save_png(label * 255, path_stem)

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.sigmoid()

    def random_label(self, num_classes, size, generator) -> torch.Tensor:
        return torch.randint(0, 2, (1, *size), generator=generator)

    def random_prediction(self, num_classes, size, generator) -> torch.Tensor:
        """Probabilities in [0, 1)."""
        return torch.rand(1, *size, generator=generator)

    def build_meter(self, info, num_classes, class_names):
        from mtcp.evaluation.metrics.saliency_meter import SaliencyMeter

        return SaliencyMeter(ignore_index=IGNORE_INDEX)

    def colorize(self, data, palette=None, vmin=None, vmax=None) -> np.ndarray:
        """Probabilities or 0/1 labels as grey; 255 (unlabelled) is black."""
        return grey(as_hw(np.asarray(data), self.name), IGNORE_INDEX)

    def legend(self, data, palette=None, class_names=None, vmin=None, vmax=None):
        """A grey bar of the probability from 0 to 1."""
        colours = self.colorize(np.linspace(0, 1, 256)[None])
        return ramp_legend(colours, 0.0, 1.0, "{:g}")

    def write(self, pred, path_stem, reduce_zero_label) -> str:
        """uint8 ``.png`` of ``255 p``."""
        return save_png(pred[0] * 255, path_stem)
