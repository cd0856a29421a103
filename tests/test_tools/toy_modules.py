"""A tiny stand-in model and in-memory dataset for the tool tests.

Imported by the tests and, through ``custom_imports=['toy_modules']``, by the
processes that ``tools/dist_train.sh`` starts (``tests/test_tools`` is then
on PYTHONPATH).
"""

import os
import time
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn
from mmengine.dataset import BaseDataset
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.registry import DATASETS, HOOKS, MODELS

from mtcp.structures import MultiTaskDataSample

TOY_SIZE = (24, 32)


@MODELS.register_module(force=True)
class ToyMultiTaskModel(BaseModel):
    """Predicts semseg, depth, normals and saliency from image colours.

    semseg: class 1 where the blue channel is bright, else 0 (with its logits,
    as ``ClassMapHead``); depth: 2 m; normals: +z; saliency: 0.25, or 1.0 on
    a flipped view, so a test can see test-time augmentation merge the plain
    and the flipped view (mean 0.625). A recorded flip is undone, as the
    task heads do.
    """

    def __init__(self, data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.conv = nn.Conv2d(3, 1, 1)

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[MultiTaskDataSample]] = None,
        mode: str = "tensor",
    ):
        if mode == "loss":
            return dict(loss=self.conv(inputs.float()).mean() ** 2)
        if mode == "predict":
            return self.predict(inputs, data_samples)
        return self.conv(inputs.float())

    def predict(self, inputs, data_samples):
        for img, sample in zip(inputs, data_samples):
            height, width = sample.ori_shape
            img = img[:, :height, :width]
            flipped = sample.metainfo.get("flip", False)
            if flipped:
                img = img.flip(-1)
            semseg = (img[0:1] > 127).long()  # BGR: blue
            sample.sem_seg_logits = PixelData(
                data=torch.cat([1 - semseg, semseg]).float()
            )
            sample.set_pred("semseg", PixelData(data=semseg))
            sample.set_pred(
                "depth", PixelData(data=torch.full((1, height, width), 2.0))
            )
            normals = torch.zeros(3, height, width)
            normals[2] = 1
            sample.set_pred("normals", PixelData(data=normals))
            saliency = 1.0 if flipped else 0.25
            sample.set_pred(
                "saliency", PixelData(data=torch.full((1, height, width), saliency))
            )
        return data_samples


@DATASETS.register_module(force=True)
class ToyMultiTaskDataset(BaseDataset):
    """Random images with a depth label, made in memory."""

    METAINFO = dict(classes=("background", "blue"), palette=[(0, 0, 0), (0, 0, 255)])

    def __init__(
        self, num_samples: int = 8, pipeline: tuple = (), lazy_init: bool = False
    ) -> None:
        self.num_samples = num_samples
        super().__init__(pipeline=list(pipeline), lazy_init=lazy_init)

    def load_data_list(self) -> List[dict]:
        return [
            dict(img_path=f"toy://{index}", index=index)
            for index in range(self.num_samples)
        ]

    def prepare_data(self, idx: int) -> dict:
        info = self.get_data_info(idx)
        rng = np.random.default_rng(info["index"])
        img = rng.integers(0, 256, TOY_SIZE + (3,), dtype=np.uint8)
        info.update(
            img=img,
            img_shape=TOY_SIZE,
            ori_shape=TOY_SIZE,
            tasks=["semseg", "depth"],
            gt_seg_map=(img[..., 0] > 127).astype(np.uint8),
            gt_depth=np.full(TOY_SIZE, 2.0, dtype=np.float32),
        )
        return self.pipeline(info)


@HOOKS.register_module(force=True)
class SlowTrainingHook(Hook):
    """Sleeps ``seconds`` after every training iteration and prints
    ``ITER rank=<r> pid=<pid> iter=<n>``, so that a test can signal or kill
    one process in the middle of an epoch."""

    def __init__(self, seconds: float = 0.3) -> None:
        self.seconds = seconds

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        print(
            f"ITER rank={get_rank()} pid={os.getpid()} iter={runner.iter + 1}",
            flush=True,
        )
        time.sleep(self.seconds)


@HOOKS.register_module(force=True)
class NaNInputsOnRankHook(Hook):
    """Makes the normalised images of training iteration ``iteration``
    (1-based) NaN on rank ``rank`` only."""

    def __init__(self, iteration: int, rank: int) -> None:
        self.iteration, self.rank = iteration, rank
        self._handle = None

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 != self.iteration or get_rank() != self.rank:
            return

        def poison(module, args, output):
            output["inputs"].fill_(float("nan"))
            return output

        model = getattr(runner.model, "module", runner.model)
        self._handle = model.data_preprocessor.register_forward_hook(poison)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
