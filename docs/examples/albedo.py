"""A task kind of your own: albedo, the colour of a surface without its
lighting, as an RGB map in [0, 1] per pixel (-1 where unlabelled).

Everything mtcp does differently for this kind of map lives in this file:
reading label files, padding, flips, packing, the head's activation and
loss, the meter and its Delta_m figure, colours and saved predictions.
Load it with ``custom_imports=dict(imports=['mtcp', 'my_tasks.albedo'])``
and declare the task in the config's ``task_table``. Run it as a script to
give a folder dataset albedo labels for a try (see docs/new_task.md).
"""

import os
import os.path as osp
import sys

import numpy as np
import torch
import torch.nn as nn
from mmseg.registry import MODELS

from mtcp.evaluation import BaseMeter
from mtcp.tasks import TASK_KINDS, BaseTaskKind
from mtcp.tasks.label_io import read_npy, save_npy, save_png

UNLABELLED = -1.0


@MODELS.register_module()
class AlbedoL1Loss(nn.Module):
    """Mean absolute error over the labelled pixels (an exact, attached 0
    when a batch has none)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = (target != UNLABELLED).all(dim=1, keepdim=True).expand_as(pred)
        error = torch.where(valid, (pred.sigmoid() - target).abs(), 0.0)
        return error.sum() / valid.sum().clamp(min=1)


class AlbedoMeter(BaseMeter):
    """Mean absolute error (x100) and the share of pixels whose three
    channels are all within 0.05 (percent), pooled over the labelled pixels."""

    task = "albedo"

    def empty_state(self):
        return dict(abs_err=np.zeros(()), within=np.zeros(()), count=np.zeros(()))

    def statistics(self, pred, gt):
        pred, gt = torch.as_tensor(pred).double(), torch.as_tensor(gt).double()
        valid = (gt != UNLABELLED).all(dim=0)
        error = (pred - gt).abs()[:, valid]
        return dict(
            abs_err=np.array(error.sum().item()),
            within=np.array((error < 0.05).all(dim=0).sum().item()),
            count=np.array(float(valid.sum())),
        )

    def compute(self):
        count = max(float(self.state["count"]), 1.0)
        return dict(
            mae=100 * float(self.state["abs_err"]) / (3 * count),
            within5=100 * float(self.state["within"]) / count,
        )


@TASK_KINDS.register_module()
class Albedo(BaseTaskKind):
    """RGB albedo in [0, 1]; files ``.npy`` (H, W, 3) float32, -1 unlabelled."""

    channels = 3
    pad_value = UNLABELLED
    label_dtype = np.float32
    suffixes = (".npy",)
    default_loss = dict(type="AlbedoL1Loss")
    delta_m = ("mae", True)  # lower is better

    def decode(self, content, path, options):
        albedo = read_npy(content, path).astype(np.float32)
        if albedo.ndim != 3 or albedo.shape[2] != 3:
            raise ValueError(f"{path}: albedo must be (H, W, 3), got {albedo.shape}")
        labelled = albedo != UNLABELLED
        if (albedo[labelled] < 0).any() or (albedo[labelled] > 1).any():
            raise ValueError(f"{path}: albedo must lie in [0, 1] (or be -1)")
        return albedo

    def encode(self, label, path_stem, suffix):
        return save_npy(label.astype(np.float32), path_stem)

    def pack(self, label):
        return torch.from_numpy(np.ascontiguousarray(label.transpose(2, 0, 1)))

    def labelled(self, gt):
        return (gt != UNLABELLED).all(dim=1, keepdim=True)

    def activate(self, raw):
        return raw.sigmoid()

    def random_label(self, num_classes, size, generator):
        return torch.rand(3, *size, generator=generator)

    def build_meter(self, info, num_classes, class_names):
        return AlbedoMeter()

    def colorize(self, data, palette=None, vmin=None, vmax=None):
        rgb = np.clip(np.asarray(data).transpose(1, 2, 0), 0, 1) * 255
        return rgb.round().astype(np.uint8)

    def write(self, pred, path_stem, reduce_zero_label):
        return save_png(pred.transpose(1, 2, 0) * 255, path_stem)


def add_albedo_labels(data_root: str) -> int:
    """Give every image of a folder dataset an albedo label made from its
    semseg map (one paint per class; unlabelled where semseg is)."""
    paints = np.random.default_rng(0).uniform(0.1, 0.9, (256, 3)).astype(np.float32)
    paints[255] = UNLABELLED
    from PIL import Image

    os.makedirs(osp.join(data_root, "albedo"), exist_ok=True)
    names = sorted(os.listdir(osp.join(data_root, "semseg")))
    for name in names:
        semseg = np.asarray(Image.open(osp.join(data_root, "semseg", name)))
        stem = osp.join(data_root, "albedo", osp.splitext(name)[0])
        save_npy(paints[semseg], stem)
    return len(names)


if __name__ == "__main__":
    print(f"wrote {add_albedo_labels(sys.argv[1])} albedo labels")
