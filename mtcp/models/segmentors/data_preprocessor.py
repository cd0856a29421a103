"""Data preprocessor that pads every task's label map with its own pad value."""

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS

from mtcp.structures import TASKS


@MODELS.register_module()
class MultiTaskDataPreProcessor(BaseDataPreprocessor):
    """Normalise, convert and pad images and multi-task label maps.

    Images are optionally converted BGR -> RGB, normalised with ``mean`` and
    ``std``, and padded at the bottom and right with ``pad_val`` to a common
    batch shape: the largest image of the batch, enlarged to ``size`` when
    given, then rounded up to a multiple of ``size_divisor`` when given.
    Every ``gt_<field>`` of :data:`mtcp.structures.TASKS` present in a data
    sample is padded to the same shape with that task's ``pad_value`` (255 for
    class and binary maps, 0 for depth and normals). The samples receive the
    ``batch_input_shape`` and ``pad_shape`` meta fields.

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
        non_blocking: bool = False,
    ) -> None:
        super().__init__(non_blocking=non_blocking)
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
            self.register_buffer(
                "mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False
            )
            self.register_buffer(
                "std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False
            )
        self._normalize = mean is not None
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
        self.bgr_to_rgb = bgr_to_rgb
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.size_divisor = size_divisor
        self.pad_val = pad_val

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
        if self._normalize:
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
            training (bool): Unused; the same processing runs in every mode.
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
        if data_samples is not None:
            if len(data_samples) != len(images):
                raise ValueError(
                    f"MultiTaskDataPreProcessor got {len(images)} images but "
                    f"{len(data_samples)} data samples"
                )
            for img, sample in zip(images, data_samples):
                self._pad_labels(sample, tuple(img.shape[-2:]), shape)
                sample.set_metainfo(dict(batch_input_shape=shape, pad_shape=shape))
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
                raise ValueError(
                    f"MultiTaskDataPreProcessor: {info.gt_field} ({task}) has size "
                    f"{tuple(label.shape[-2:])}, expected the image size {img_shape}"
                )
            # PixelData refuses a value of another size than its current one.
            del pixel_data.data
            pixel_data.data = self._pad(label, shape, info.pad_value)
