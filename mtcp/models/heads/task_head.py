"""Task heads: the per-task prediction convs with their loss and post-processing.

One head class per task kind, following mmseg's decode heads: the head owns
its prediction layers (one per SRM level), ``loss_by_feat`` (its loss on every
level), ``predict_by_feat`` (crop, resize, undo flips, activation) and
``merge_views`` (how test-time augmentation averages the predictions of one
image's views). A head class declares the ``kind`` of
:data:`mtcp.structures.TASKS` it serves; :func:`task_head_type` finds it, so
adding a task kind is one head class and one ``TASKS`` entry.
"""

from functools import partial
from typing import Dict, List, Optional, Sequence, Type

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptMultiConfig

from mtcp.structures import IGNORE_INDEX, MultiTaskDataSample, TaskInfo

from ..utils import checkpoint

_HEADS_BY_KIND: Dict[str, Type["BaseTaskHead"]] = {}


def task_head_type(kind: str) -> Type["BaseTaskHead"]:
    """The (registered) head class serving task kind ``kind``."""
    if kind not in _HEADS_BY_KIND:
        raise KeyError(
            f"no task head serves task kind {kind!r}; known kinds: "
            f"{sorted(_HEADS_BY_KIND)}"
        )
    return _HEADS_BY_KIND[kind]


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) to ``size``; a no-op at that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _upsampled_loss(loss_fn, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    return loss_fn(resize(pred, gt.shape[-2:]), gt)


class BaseTaskHead(BaseModule):
    """Prediction convs of one task, one per level, with loss and post-processing.

    The level convs are children named after the levels (``aux_16``,
    ``aux_8``, ``final``), so the state-dict keys are
    ``heads.<task>.<level>.*``.

    Args:
        in_channels (int): Channels of the features the head predicts from.
        out_channels (int): Predicted channels.
        levels (list[str]): Level names; the last one is the final prediction.
        loss_decode (dict): Loss config, called as ``loss(pred, gt)`` with
            ``pred`` upsampled to the label size.
        conv_cfg (dict, optional): Keyword arguments of
            :class:`DensePredictionHead` (channels filled in).
        bias_init (float): Initial bias of the prediction convs.
        loss_with_cp (bool): Activation checkpointing of each level's loss
            with the upsampling of its prediction to the label size: only
            the head-resolution prediction is kept for the backward, which
            recomputes the full-resolution logits and the loss's
            intermediates (e.g. the log-softmax). Default: False.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    kind: str = ""
    # Predicted channels when they do not depend on the dataset (None: the
    # model's ``num_classes`` gives them).
    fixed_channels: Optional[int] = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            _HEADS_BY_KIND[cls.kind] = cls

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        levels: List[str],
        loss_decode: ConfigType,
        conv_cfg: Optional[dict] = None,
        bias_init: float = 0.0,
        loss_with_cp: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.out_channels = out_channels
        self.level_names = list(levels)
        self.loss_with_cp = loss_with_cp
        for name in self.level_names:
            conv = dict(type="DensePredictionHead", **(conv_cfg or {}))
            conv.update(
                in_channels=in_channels, out_channels=out_channels, bias_init=bias_init
            )
            self.add_module(name, MODELS.build(conv))
        self.loss_decode = MODELS.build(loss_decode)

    @property
    def levels(self) -> Dict[str, torch.nn.Module]:
        """``level name -> prediction conv``, final last."""
        return {name: getattr(self, name) for name in self.level_names}

    def forward(self, feats: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Predict from one feature map per level (same order as ``levels``)."""
        if len(feats) != len(self.level_names):
            raise ValueError(
                f"{type(self).__name__} has levels {self.level_names}, got "
                f"{len(feats)} feature maps"
            )
        return {n: getattr(self, n)(x) for n, x in zip(self.level_names, feats)}

    def labelled(self, gt: torch.Tensor) -> torch.Tensor:
        """Boolean (B, 1, H, W) mask of the pixels of ``gt`` carrying a label."""
        return gt != IGNORE_INDEX

    @classmethod
    def random_label(
        cls, num_classes: int, size: Sequence[int], generator: torch.Generator
    ) -> torch.Tensor:
        """A random label map of this kind, every pixel labelled, (C, H, W)
        (synthetic batches of the benchmarks)."""
        raise NotImplementedError

    @classmethod
    def random_prediction(
        cls, num_classes: int, size: Sequence[int], generator: torch.Generator
    ) -> torch.Tensor:
        """A random prediction of this kind, as :meth:`predict_by_feat` gives
        it: by default a label map of :meth:`random_label`."""
        return cls.random_label(num_classes, size, generator)

    def loss_by_feat(
        self, preds: Dict[str, torch.Tensor], gt: torch.Tensor, task: str
    ) -> Dict[str, torch.Tensor]:
        """Loss of every level: ``{task}.loss`` (final), ``{task}.{level}.loss``."""
        losses = {}
        for name, pred in preds.items():
            key = f"{task}.loss" if name == "final" else f"{task}.{name}.loss"
            losses[key] = checkpoint(
                partial(_upsampled_loss, self.loss_decode),
                pred,
                gt,
                enabled=self.loss_with_cp,
            )
        return losses

    def flip_back(self, pred: torch.Tensor, direction: str) -> torch.Tensor:
        """Undo a ``'horizontal'`` or ``'vertical'`` flip of (B, C, H, W)."""
        if direction not in ("horizontal", "vertical"):
            raise ValueError(
                f"{type(self).__name__} cannot undo flip_direction {direction!r}; "
                "supported: 'horizontal', 'vertical'"
            )
        return pred.flip(-1 if direction == "horizontal" else -2)

    def activate(self, pred: torch.Tensor) -> torch.Tensor:
        """Map the raw (C, H, W) output to the task's prediction."""
        raise NotImplementedError

    def restore(self, pred: torch.Tensor, meta: dict) -> torch.Tensor:
        """Map one raw output (1, C, h, w) back to the original image (C, H, W).

        Padding is cropped (``img_shape``), the result resized to
        ``ori_shape`` and a flip recorded in the meta undone; no activation.
        """
        for key in ("batch_input_shape", "img_shape", "ori_shape"):
            if key not in meta:
                raise KeyError(
                    f"MTCP.predict: data sample meta lacks {key!r}; run the inputs "
                    "through MultiTaskDataPreProcessor and a pipeline that sets it"
                )
        img_h, img_w = meta["img_shape"][:2]
        pred = resize(pred, meta["batch_input_shape"])[..., :img_h, :img_w]
        pred = resize(pred, meta["ori_shape"][:2])
        if meta.get("flip", False):
            pred = self.flip_back(pred, meta.get("flip_direction"))
        return pred[0]

    def predict_by_feat(self, pred: torch.Tensor, meta: dict) -> torch.Tensor:
        """Map one raw output (1, C, h, w) to the prediction (C', H, W) on the
        original image: :meth:`restore`, then the activation."""
        return self.activate(self.restore(pred, meta))

    def add_pred(
        self,
        sample: MultiTaskDataSample,
        info: TaskInfo,
        pred: torch.Tensor,
        meta: dict,
    ) -> None:
        """Store the prediction of one raw output (1, C, h, w) in ``sample``
        as ``pred_<field>`` (:meth:`predict_by_feat`)."""
        setattr(
            sample, info.pred_field, PixelData(data=self.predict_by_feat(pred, meta))
        )

    @classmethod
    def merge_views(
        cls, views: Sequence[MultiTaskDataSample], info: TaskInfo
    ) -> Dict[str, torch.Tensor]:
        """Merge the predictions of one image's test-time augmented views.

        Each view's prediction is already mapped back to the original image
        (:meth:`restore`). The base merge is the mean of the ``pred_<field>``
        maps (depth, binary probabilities).

        Returns:
            dict[str, Tensor]: ``data field -> merged (C, H, W)``, the fields a
            plain prediction of the task has.
        """
        return {info.pred_field: _stacked(views, info.pred_field).mean(dim=0)}


def _stacked(views: Sequence[MultiTaskDataSample], field: str) -> torch.Tensor:
    """``field`` of every view, stacked to (V, C, H, W)."""
    maps = []
    for i, view in enumerate(views):
        if field not in view:
            raise KeyError(
                f"test-time augmentation: view {i} of {view.metainfo.get('img_path')} "
                f"has no {field!r}; every view must predict the same fields"
            )
        maps.append(getattr(view, field).data)
    shapes = {tuple(m.shape) for m in maps}
    if len(shapes) > 1:
        raise ValueError(
            f"test-time augmentation: the views of {views[0].metainfo.get('img_path')} "
            f"predict {field!r} at different sizes {sorted(shapes)}; predictions "
            "must be mapped back to the original image size"
        )
    return torch.stack(maps)


@MODELS.register_module()
class ClassMapHead(BaseTaskHead):
    """Class-map head (semseg, parts): argmax of the logits, (1, H, W) int64.

    Besides ``pred_<field>`` a prediction keeps the logits on the original
    image, ``<field>_logits`` (C, H, W) float (mmseg's ``seg_logits``), which
    test-time augmentation averages.
    """

    kind = "class"

    @classmethod
    def random_label(cls, num_classes, size, generator) -> torch.Tensor:
        return torch.randint(0, num_classes, (1, *size), generator=generator)

    def activate(self, pred: torch.Tensor) -> torch.Tensor:
        return pred.argmax(dim=0, keepdim=True)

    @staticmethod
    def logits_field(info: TaskInfo) -> str:
        """The data field of the task's logits, e.g. ``sem_seg_logits``."""
        return f"{info.field}_logits"

    def add_pred(
        self,
        sample: MultiTaskDataSample,
        info: TaskInfo,
        pred: torch.Tensor,
        meta: dict,
    ) -> None:
        logits = self.restore(pred, meta)
        setattr(sample, self.logits_field(info), PixelData(data=logits))
        setattr(sample, info.pred_field, PixelData(data=self.activate(logits)))

    @classmethod
    def merge_views(
        cls, views: Sequence[MultiTaskDataSample], info: TaskInfo
    ) -> Dict[str, torch.Tensor]:
        """Average the views' class probabilities (softmax of the logits), as
        mmseg's ``SegTTAModel`` does, then take the argmax; the merged logits
        are the log of the mean probabilities (their softmax gives them back).

        Probabilities rather than logits: each view contributes a bounded
        vote per class, so one view's very large logits cannot overrule the
        others.
        """
        probs = _stacked(views, cls.logits_field(info)).softmax(dim=1).mean(dim=0)
        return {
            cls.logits_field(info): probs.log(),
            info.pred_field: probs.argmax(dim=0, keepdim=True),
        }


@MODELS.register_module()
class DepthHead(BaseTaskHead):
    """Metric depth head: the prediction clamped at 0; label 0 = invalid.

    A test image resized by ``s`` (``scale_factor`` in the meta, the geometric
    mean of its w and h factors) is a scene seen ``s`` times larger, whose
    depth labels ``MultiTaskResize`` divides by ``s`` in training; restoring
    the prediction to the original image multiplies it by ``s``. Test-time
    augmentation averages the views' depths.
    """

    kind = "depth"
    fixed_channels = 1

    def restore(self, pred: torch.Tensor, meta: dict) -> torch.Tensor:
        pred = super().restore(pred, meta)
        if meta.get("scale_factor") is None:
            return pred
        w_scale, h_scale = meta["scale_factor"]
        return pred * float(w_scale * h_scale) ** 0.5

    def labelled(self, gt: torch.Tensor) -> torch.Tensor:
        return gt > 0

    def activate(self, pred: torch.Tensor) -> torch.Tensor:
        return pred.clamp(min=0)

    @classmethod
    def random_label(cls, num_classes, size, generator) -> torch.Tensor:
        """Depths in 0.5-10 m."""
        return 0.5 + 9.5 * torch.rand(1, *size, generator=generator)


@MODELS.register_module()
class NormalsHead(BaseTaskHead):
    """Surface normals head: unit vectors; the zero label vector = invalid.

    Undoing a flip mirrors the map and negates the flipped axis' component
    (x for a horizontal flip, y for a vertical one).
    """

    kind = "normals"
    fixed_channels = 3

    @classmethod
    def random_label(cls, num_classes, size, generator) -> torch.Tensor:
        return F.normalize(torch.randn(3, *size, generator=generator), dim=0)

    def labelled(self, gt: torch.Tensor) -> torch.Tensor:
        return (gt != 0).any(dim=1, keepdim=True)

    def flip_back(self, pred: torch.Tensor, direction: str) -> torch.Tensor:
        pred = super().flip_back(pred, direction)
        sign = pred.new_ones(pred.shape[1])
        sign[0 if direction == "horizontal" else 1] = -1.0
        return pred * sign.view(1, -1, 1, 1)

    def activate(self, pred: torch.Tensor) -> torch.Tensor:
        return F.normalize(pred, dim=0)

    @classmethod
    def merge_views(
        cls, views: Sequence[MultiTaskDataSample], info: TaskInfo
    ) -> Dict[str, torch.Tensor]:
        """The mean of the views' unit normals, renormalised to unit length."""
        mean = _stacked(views, info.pred_field).mean(dim=0)
        return {info.pred_field: F.normalize(mean, dim=0)}


@MODELS.register_module()
class BinaryMapHead(BaseTaskHead):
    """Binary map head (saliency, edge): sigmoid probabilities, (1, H, W).

    Test-time augmentation averages the views' probabilities.
    """

    kind = "binary"
    fixed_channels = 1

    def activate(self, pred: torch.Tensor) -> torch.Tensor:
        return pred.sigmoid()

    @classmethod
    def random_label(cls, num_classes, size, generator) -> torch.Tensor:
        return torch.randint(0, 2, (1, *size), generator=generator)

    @classmethod
    def random_prediction(cls, num_classes, size, generator) -> torch.Tensor:
        """Probabilities in [0, 1)."""
        return torch.rand(1, *size, generator=generator)
