"""Data preprocessor that pads every task's label map with its own pad value."""

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS

from mtcp.structures import TASKS
from mtcp.tasks import task_kind


@MODELS.register_module()
class MultiTaskDataPreProcessor(SegDataPreProcessor):
    """mmseg's ``SegDataPreProcessor`` for multi-task label maps.

    Images are optionally converted BGR -> RGB, normalised with ``mean`` and
    ``std``, and padded at the bottom and right with ``pad_val`` to a common
    batch shape in every mode (a test batch may hold images of several
    sizes): the largest image of the batch, enlarged to ``size`` when given,
    then rounded up to a multiple of ``size_divisor`` when given.

    In training every ``gt_<field>`` of :data:`mtcp.tasks.TASKS` present
    in a data sample must have the image's size and is padded to the batch
    shape with the ``pad_value`` of the task's kind (255 for class and
    binary maps, 0 for depth and normals); then ``batch_augments`` run. At validation and test
    the labels stay as the pipeline left them (at the image size, or at
    ``ori_shape`` when the pipeline loads them after a resize), as mmseg
    does: the model's predictions are resized to ``ori_shape`` and compared
    there. The samples receive the ``batch_input_shape`` and ``pad_shape``
    meta fields.

    Args:
        mean (Sequence[float], optional): Per-channel mean, in the channel
            order after the BGR -> RGB conversion. None skips normalisation.
        std (Sequence[float], optional): Per-channel standard deviation.
        bgr_to_rgb (bool): Reverse the channel order of 3-channel images.
            Default: False.
        size (tuple[int, int], optional): Minimum padded (H, W).
        size_divisor (int, optional): The padded height and width are
            multiples of it. Default: 32.
        pad_val (float): Image padding value (after normalisation). Default: 0.
        batch_augments (list[dict], optional): Configs of callables from the
            ``MODELS`` registry, each called in training as
            ``inputs, data_samples = augment(inputs, data_samples)`` on the
            padded batch. Default: None.
        non_blocking (bool): Non-blocking host-to-device copy. Default: False.
    """

    def __init__(
        self,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
        bgr_to_rgb: bool = False,
        size: Optional[Tuple[int, int]] = None,
        size_divisor: Optional[int] = 32,
        pad_val: float = 0.0,
        batch_augments: Optional[List[dict]] = None,
        non_blocking: bool = False,
    ) -> None:
        if (mean is None) != (std is None):
            raise ValueError(
                "MultiTaskDataPreProcessor needs both `mean` and `std`, or neither; "
                f"got mean={mean} and std={std}"
            )
        if mean is not None:
            if len(mean) != len(std) or len(mean) not in (1, 3):
                raise ValueError(
                    "MultiTaskDataPreProcessor `mean` and `std` must both have 1 or "
                    f"3 values, got {list(mean)} and {list(std)}"
                )
            if any(s <= 0 for s in std):
                raise ValueError(
                    f"MultiTaskDataPreProcessor `std` must be positive, got {list(std)}"
                )
            mean = [float(m) for m in mean]
            std = [float(s) for s in std]
        if size is not None and (
            len(size) != 2 or any(int(s) != s or s < 1 for s in size)
        ):
            raise ValueError(
                "MultiTaskDataPreProcessor `size` must be two positive integers "
                f"(H, W), got {size}"
            )
        if size_divisor is not None and (
            int(size_divisor) != size_divisor or size_divisor < 1
        ):
            raise ValueError(
                "MultiTaskDataPreProcessor `size_divisor` must be a positive integer "
                f"or None, got {size_divisor}"
            )
        super().__init__(
            mean=mean,
            std=std,
            size=None if size is None else (int(size[0]), int(size[1])),
            size_divisor=size_divisor,
            pad_val=pad_val,
            bgr_to_rgb=bgr_to_rgb,
        )
        self._non_blocking = non_blocking
        self.bgr_to_rgb = bgr_to_rgb
        self.batch_augments = (
            None
            if batch_augments is None
            else torch.nn.ModuleList(MODELS.build(cfg) for cfg in batch_augments)
        )

    def _batch_shape(self, shapes: List[Tuple[int, int]]) -> Tuple[int, int]:
        h = max(s[0] for s in shapes)
        w = max(s[1] for s in shapes)
        if self.size is not None:
            if h > self.size[0] or w > self.size[1]:
                raise ValueError(
                    f"MultiTaskDataPreProcessor: an image of size ({h}, {w}) is "
                    f"larger than the padding size {self.size}"
                )
            h, w = self.size
        if self.size_divisor is not None:
            h = math.ceil(h / self.size_divisor) * self.size_divisor
            w = math.ceil(w / self.size_divisor) * self.size_divisor
        return h, w

    def _prepare_image(self, img: torch.Tensor) -> torch.Tensor:
        if img.dim() != 3:
            raise ValueError(
                "MultiTaskDataPreProcessor expects (C, H, W) images, got shape "
                f"{tuple(img.shape)}"
            )
        if self.bgr_to_rgb:
            if img.size(0) != 3:
                raise ValueError(
                    "MultiTaskDataPreProcessor bgr_to_rgb needs 3-channel images, "
                    f"got {img.size(0)} channels"
                )
            img = img.flip(0)
        img = img.float()
        if self._enable_normalize:
            if self.mean.size(0) not in (1, img.size(0)):
                raise ValueError(
                    f"MultiTaskDataPreProcessor has {self.mean.size(0)} mean values "
                    f"for an image with {img.size(0)} channels"
                )
            img = (img - self.mean) / self.std
        return img

    @staticmethod
    def _pad(x: torch.Tensor, shape: Tuple[int, int], value: float) -> torch.Tensor:
        return F.pad(
            x, (0, shape[1] - x.shape[-1], 0, shape[0] - x.shape[-2]), value=value
        )

    def forward(self, data: Dict, training: bool = False) -> Dict:
        """Return ``dict(inputs=(B, C, H, W) float, data_samples=...)``.

        Args:
            data (dict): ``inputs`` (a list of (C, H, W) tensors or a
                (B, C, H, W) tensor) and optionally ``data_samples``.
            training (bool): Pad the labels and run ``batch_augments``;
                otherwise the labels are left as they are.
        """
        data = self.cast_data(data)
        inputs: Union[torch.Tensor, List[torch.Tensor]] = data["inputs"]
        if isinstance(inputs, torch.Tensor):
            if inputs.dim() != 4:
                raise ValueError(
                    "MultiTaskDataPreProcessor expects a list of (C, H, W) images or "
                    f"a (B, C, H, W) tensor, got shape {tuple(inputs.shape)}"
                )
            inputs = list(inputs)
        images = [self._prepare_image(img) for img in inputs]
        shape = self._batch_shape([tuple(img.shape[-2:]) for img in images])
        batch = torch.stack([self._pad(img, shape, self.pad_val) for img in images])

        data_samples = data.get("data_samples", None)
        if data_samples is None:
            if training:
                raise ValueError(
                    "MultiTaskDataPreProcessor: training needs data samples with "
                    "the labels"
                )
            return dict(inputs=batch, data_samples=None)
        if len(data_samples) != len(images):
            raise ValueError(
                f"MultiTaskDataPreProcessor got {len(images)} images but "
                f"{len(data_samples)} data samples"
            )
        for img, sample in zip(images, data_samples):
            if training:
                self._pad_labels(sample, tuple(img.shape[-2:]), shape)
            sample.set_metainfo(dict(batch_input_shape=shape, pad_shape=shape))
        if training and self.batch_augments is not None:
            for augment in self.batch_augments:
                batch, data_samples = augment(batch, data_samples)
        return dict(inputs=batch, data_samples=data_samples)

    def _pad_labels(
        self, sample, img_shape: Tuple[int, int], shape: Tuple[int, int]
    ) -> None:
        for task, info in TASKS.items():
            if info.gt_field not in sample:
                continue
            pixel_data = getattr(sample, info.gt_field)
            label = pixel_data.data
            if tuple(label.shape[-2:]) != img_shape:
                where = sample.metainfo.get("img_path", "a training sample")
                raise ValueError(
                    f"MultiTaskDataPreProcessor: {where}: {info.gt_field} ({task}) "
                    f"has size {tuple(label.shape[-2:])}, expected the image size "
                    f"{img_shape} in training (the training pipeline must move "
                    "the labels with the image)"
                )
            # PixelData refuses a value of another size than its current one.
            del pixel_data.data
            pixel_data.data = self._pad(label, shape, task_kind(task).pad_value)
