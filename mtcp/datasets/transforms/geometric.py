from typing import Iterator, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Resize
from mmcv.transforms.utils import cache_randomness
from mmseg.datasets.transforms import RandomCrop, RandomFlip
from mmseg.registry import TRANSFORMS

from mtcp.tasks import BaseTaskKind, task_kind
from mtcp.tasks.base_kind import task_of_results_key


def label_maps(results: dict) -> Iterator[Tuple[BaseTaskKind, str]]:
    """Yield (task kind, results key) of the label maps in ``seg_fields``.

    Geometric transforms move the maps present: a test pipeline loads the
    labels after resizing the image, so they stay at the original size.

    Raises:
        KeyError: a ``seg_fields`` key that is no task's label map.
    """
    for key in results.get("seg_fields", []):
        info = task_of_results_key(key, str(results.get("img_path")))
        if key in results:
            yield task_kind(info.name), key


def fields_repr(transform: BaseTransform, *names: str) -> str:
    """``ClassName(name=value, ...)`` of the transform's attributes ``names``."""
    fields = ", ".join(f"{name}={getattr(transform, name)}" for name in names)
    return f"{type(transform).__name__}({fields})"


@TRANSFORMS.register_module()
class MultiTaskResize(Resize):
    """Resize the image and every task's label map (mmcv's ``Resize``).

    The image is interpolated with ``interpolation``; every label map is
    resized to exactly the new image size by its task's kind
    (:meth:`~mtcp.tasks.BaseTaskKind.resize_label`): nearest neighbour
    sampled at pixel centres (so labels stay aligned with the bilinear
    image), depth also divided by the scale factor (the geometric mean of
    the width and height factors: a scene seen ``s`` times larger appears
    ``s`` times closer), normals renormalised. ``scale_factor`` (w, h) and
    ``img_shape`` are recorded as mmseg does, so predictions can be resized
    back.

    Args:
        scale (int | tuple[int, int]): Target (w, h), as mmcv's ``Resize``;
            with ``keep_ratio`` the image fits in the long/short edges.
        scale_factor (float | tuple[float, float], optional): Used when
            ``scale`` is None.
        keep_ratio (bool): Keep the aspect ratio. Defaults to True.
        interpolation (str): Image interpolation. Defaults to 'bilinear'.
        backend (str): 'cv2' or 'pillow'. Defaults to 'cv2'.
    """

    def __init__(
        self,
        scale: Optional[Union[int, Tuple[int, int]]] = None,
        scale_factor: Optional[Union[float, Tuple[float, float]]] = None,
        keep_ratio: bool = True,
        interpolation: str = "bilinear",
        backend: str = "cv2",
    ) -> None:
        super().__init__(
            scale,
            scale_factor,
            keep_ratio,
            interpolation=interpolation,
            backend=backend,
        )

    def _resize_seg(self, results: dict) -> None:
        new_h, new_w = results["img"].shape[:2]
        w_scale, h_scale = results["scale_factor"]
        scale = np.sqrt(w_scale * h_scale)
        for kind, key in label_maps(results):
            results[key] = kind.resize_label(results[key], (new_w, new_h), scale)


@TRANSFORMS.register_module()
class MultiTaskRandomResize(MultiTaskResize):
    """Resize by a random ratio of ``scale`` (mmcv's ``RandomResize`` rule).

    The target is ``scale * r`` with ``r`` uniform in ``ratio_range``; the
    image and every label map are then resized as :class:`MultiTaskResize`
    does (depth divided by the actual scale factor).

    Args:
        scale (tuple[int, int]): Base (w, h).
        ratio_range (tuple[float, float]): (min, max) ratio.
        **resize_kwargs: ``keep_ratio``, ``interpolation`` and ``backend`` of
            :class:`MultiTaskResize`.
    """

    def __init__(
        self,
        scale: Tuple[int, int],
        ratio_range: Tuple[float, float],
        **resize_kwargs,
    ) -> None:
        super().__init__(scale=scale, **resize_kwargs)
        if not (len(ratio_range) == 2 and 0 < ratio_range[0] <= ratio_range[1]):
            raise ValueError(
                f"ratio_range must be (min, max) with 0 < min <= max, got {ratio_range}"
            )
        self.ratio_range = tuple(ratio_range)

    @cache_randomness
    def _random_scale(self) -> Tuple[int, int]:
        ratio = np.random.uniform(*self.ratio_range)
        return int(self.scale[0] * ratio), int(self.scale[1] * ratio)

    def transform(self, results: dict) -> dict:
        results["scale"] = self._random_scale()
        self._resize_img(results)
        self._resize_seg(results)
        return results

    def __repr__(self) -> str:
        return fields_repr(self, "scale", "ratio_range", "keep_ratio")


@TRANSFORMS.register_module()
class MultiTaskRandomCrop(RandomCrop):
    """Random crop of the image and every task's label map (mmseg's rule).

    With ``cat_max_ratio < 1`` the crop is re-drawn (up to 10 times) while a
    single semantic class covers more than that ratio of the crop, which needs
    the semseg task.

    Args:
        crop_size (int | tuple[int, int]): (h, w) of the crop.
        cat_max_ratio (float): Maximum share of one class. Defaults to 1.0.
        ignore_index (int): Ignored label. Defaults to 255.
    """

    def __init__(
        self,
        crop_size: Union[int, Tuple[int, int]],
        cat_max_ratio: float = 1.0,
        ignore_index: int = 255,
    ) -> None:
        super().__init__(
            crop_size=tuple(crop_size) if not isinstance(crop_size, int) else crop_size,
            cat_max_ratio=cat_max_ratio,
            ignore_index=ignore_index,
        )

    def transform(self, results: dict) -> dict:
        if self.cat_max_ratio < 1.0 and "gt_seg_map" not in results:
            raise KeyError(
                f"MultiTaskRandomCrop(cat_max_ratio={self.cat_max_ratio}) needs "
                "the semseg label map; set cat_max_ratio=1.0 without semseg"
            )
        # mmseg's crop moves every map in seg_fields
        results["seg_fields"] = [key for _, key in label_maps(results)]
        return super().transform(results)

    def __repr__(self) -> str:
        return fields_repr(self, "crop_size", "cat_max_ratio")


@TRANSFORMS.register_module()
class MultiTaskRandomFlip(RandomFlip):
    """Randomly flip the image and every task's label map (mmseg's ``RandomFlip``).

    Each label map is flipped by its task's kind
    (:meth:`~mtcp.tasks.BaseTaskKind.flip_label`): mirrored, and for normals
    the component along the flipped axis changes sign (x for 'horizontal',
    y for 'vertical', both for 'diagonal'). Records ``flip`` and
    ``flip_direction``.

    Args:
        prob (float): Flip probability. Defaults to 0.5.
        direction (str): 'horizontal', 'vertical' or 'diagonal'.
            Defaults to 'horizontal'.
    """

    DIRECTIONS = ("diagonal", "horizontal", "vertical")

    def __init__(self, prob: float = 0.5, direction: str = "horizontal") -> None:
        if direction not in self.DIRECTIONS:
            raise ValueError(
                f"direction must be one of {list(self.DIRECTIONS)}, got {direction!r}"
            )
        super().__init__(prob=prob, direction=direction)

    def _flip(self, results: dict) -> None:
        direction = results["flip_direction"]
        results["img"] = mmcv.imflip(results["img"], direction=direction)
        for kind, key in label_maps(results):
            results[key] = kind.flip_label(results[key], direction)


@TRANSFORMS.register_module()
class MultiTaskPad(BaseTransform):
    """Pad the image and every label map at the bottom/right to a fixed size.

    Pad values: image ``img_pad_val``; each label map its task kind's
    ``pad_value`` (class / binary maps 255, depth 0, normals 0). ``img_shape``
    keeps the unpadded size (the valid region); ``pad_shape`` is the padded one.

    Args:
        size (tuple[int, int]): (h, w) after padding, as ``crop_size``.
        img_pad_val (float): Image pad value. Defaults to 0.
    """

    def __init__(self, size: Sequence[int], img_pad_val: float = 0) -> None:
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be (h, w) with positive values, got {size}")
        self.size = (int(size[0]), int(size[1]))
        self.img_pad_val = img_pad_val

    def transform(self, results: dict) -> dict:
        h, w = results["img"].shape[:2]
        if h > self.size[0] or w > self.size[1]:
            raise ValueError(
                f"{results.get('img_path')}: image of size {(h, w)} is larger "
                f"than the pad size {self.size}; crop or resize it first"
            )
        results["img"] = mmcv.impad(
            results["img"], shape=self.size, pad_val=self.img_pad_val
        )
        for kind, key in label_maps(results):
            results[key] = mmcv.impad(
                results[key], shape=self.size, pad_val=kind.pad_value
            )
        results["img_shape"] = (h, w)
        results["pad_shape"] = results["img"].shape
        return results

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(size={self.size}, "
            f"img_pad_val={self.img_pad_val})"
        )


@TRANSFORMS.register_module()
class KeepLabelsAtOriginal(BaseTransform):
    """Take every label map out of ``seg_fields``, so later geometric
    transforms (resize, flip) leave them as they are.

    For test-time augmentation on datasets that give the pipeline the labels
    with the image (the synthetic scenes): the views are resized and flipped
    while the labels stay at the original image, where the metric compares
    them with the merged prediction, as when a file-based pipeline loads the
    labels after the flip.
    """

    def transform(self, results: dict) -> dict:
        results["seg_fields"] = []
        return results
