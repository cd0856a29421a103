from typing import Iterator, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Resize
from mmcv.transforms.utils import cache_randomness
from mmseg.datasets.transforms import RandomCrop, RandomFlip
from mmseg.registry import TRANSFORMS

from mtcp.structures import TASKS, TaskInfo

# The task of each label-map key of a pipeline's ``results``.
_TASK_OF_KEY = {info.results_key: info for info in TASKS.values()}


def label_maps(results: dict) -> Iterator[Tuple[TaskInfo, str]]:
    """Yield (task info, results key) of the label maps in ``seg_fields``.

    Geometric transforms move the maps present: a test pipeline loads the
    labels after resizing the image, so they stay at the original size.

    Raises:
        KeyError: a ``seg_fields`` key that is no task's label map.
    """
    for key in results.get("seg_fields", []):
        if key not in _TASK_OF_KEY:
            raise KeyError(
                f"{results.get('img_path')}: results['seg_fields'] lists "
                f"{key!r}, which is no task's label map (expected one of "
                f"{sorted(_TASK_OF_KEY)})"
            )
        if key in results:
            yield _TASK_OF_KEY[key], key


def fields_repr(transform: BaseTransform, *names: str) -> str:
    """``ClassName(name=value, ...)`` of the transform's attributes ``names``."""
    fields = ", ".join(f"{name}={getattr(transform, name)}" for name in names)
    return f"{type(transform).__name__}({fields})"


def _renormalise(normals: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    # the zero vector marks invalid pixels and must stay zero
    return np.where(norm > 0, normals / np.maximum(norm, 1e-12), 0).astype(np.float32)


@TRANSFORMS.register_module()
class MultiTaskResize(Resize):
    """Resize the image and every task's label map (mmcv's ``Resize``).

    The image is interpolated with ``interpolation``; every label map is
    resized to exactly the new image size with nearest neighbour sampled at
    pixel centres (so labels stay aligned with the bilinear image). Depth is
    divided by the scale factor (the geometric mean of the width and height
    factors), so a scene seen ``s`` times larger appears ``s`` times closer;
    normals are renormalised. ``scale_factor`` (w, h) and ``img_shape`` are
    recorded as mmseg does, so predictions can be resized back.

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
        for info, key in label_maps(results):
            # INTER_NEAREST samples at pixel corners, half a pixel off the
            # image's bilinear grid; the exact variant samples pixel centres
            label = cv2.resize(
                results[key], (new_w, new_h), interpolation=cv2.INTER_NEAREST_EXACT
            )
            if info.kind == "depth":
                label = label / np.float32(np.sqrt(w_scale * h_scale))
            elif info.kind == "normals":
                label = _renormalise(label)
            results[key] = label


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

    Flipping mirrors the scene, so the normal component along the flipped
    axis changes sign: x for 'horizontal', y for 'vertical', both for
    'diagonal'. Records ``flip`` and ``flip_direction``.

    Args:
        prob (float): Flip probability. Defaults to 0.5.
        direction (str): 'horizontal', 'vertical' or 'diagonal'.
            Defaults to 'horizontal'.
    """

    _NEGATED_AXES = {"horizontal": (0,), "vertical": (1,), "diagonal": (0, 1)}

    def __init__(self, prob: float = 0.5, direction: str = "horizontal") -> None:
        if direction not in self._NEGATED_AXES:
            raise ValueError(
                f"direction must be one of {sorted(self._NEGATED_AXES)}, "
                f"got {direction!r}"
            )
        super().__init__(prob=prob, direction=direction)

    def _flip(self, results: dict) -> None:
        # mmseg's flip moves the image and every map in seg_fields
        super()._flip(results)
        axes = list(self._NEGATED_AXES[results["flip_direction"]])
        for info, key in label_maps(results):
            if info.kind == "normals":
                results[key][..., axes] *= -1


@TRANSFORMS.register_module()
class MultiTaskPad(BaseTransform):
    """Pad the image and every label map at the bottom/right to a fixed size.

    Pad values: image ``img_pad_val``; each label map its task's
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
        for info, key in label_maps(results):
            results[key] = mmcv.impad(
                results[key], shape=self.size, pad_val=info.pad_value
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
