"""The task head: one task's prediction convs, its loss and its predictions.

Follows mmseg's decode-head contract: the head is built knowing its task;
:meth:`TaskHead.loss` stacks its own labels from the data samples
(``_stack_batch_gt``) and calls :meth:`TaskHead.loss_by_feat`;
:meth:`TaskHead.predict` maps the final output back to each original image
and activates it. Whatever differs per kind of map (the default loss, which
pixels are labelled, the activation, undoing a flip or a resize, the data
fields of a prediction) is asked of the task's kind
(:func:`mtcp.tasks.task_kind`).
"""

from functools import partial
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptMultiConfig

from mtcp.tasks import get_task, task_kind
from mtcp.tasks.base_kind import resize

from ..utils import checkpoint
from ..weighting import TaskLosses


def _upsampled_loss(loss_fn, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    return loss_fn(resize(pred, gt.shape[-2:]), gt)


@MODELS.register_module()
class TaskHead(BaseModule):
    """Prediction convs of one task, one per level, with loss and predictions.

    The level convs are children named after the levels (``aux_16``,
    ``aux_8``, ``final``), so the state-dict keys are
    ``heads.<task>.<level>.*``.

    Args:
        task (str): The task (:data:`mtcp.tasks.TASKS`).
        in_channels (int): Channels of the features the head predicts from.
        levels (list[str]): Level names; the last one is the final prediction.
        num_classes (int, optional): Classes of a class-map task (its
            predicted channels); other kinds predict their label channels.
        loss_decode (dict, optional): Loss config, called as ``loss(pred,
            gt)`` with ``pred`` upsampled to the label size. Defaults to the
            kind's ``default_loss``.
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

    def __init__(
        self,
        task: str,
        in_channels: int,
        levels: List[str],
        num_classes: Optional[int] = None,
        loss_decode: Optional[ConfigType] = None,
        conv_cfg: Optional[dict] = None,
        bias_init: float = 0.0,
        loss_with_cp: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.task = task
        self.info = get_task(task)
        self.kind = task_kind(task)
        self.out_channels = self.kind.num_outputs(self.info, num_classes)
        self.level_names = list(levels)
        self.loss_with_cp = loss_with_cp
        for name in self.level_names:
            conv = dict(type="DensePredictionHead", **(conv_cfg or {}))
            conv.update(
                in_channels=in_channels,
                out_channels=self.out_channels,
                bias_init=bias_init,
            )
            self.add_module(name, MODELS.build(conv))
        self.loss_decode = MODELS.build(
            dict(loss_decode if loss_decode is not None else self.kind.default_loss)
        )

    @property
    def levels(self) -> Dict[str, torch.nn.Module]:
        """``level name -> prediction conv``, final last."""
        return {name: getattr(self, name) for name in self.level_names}

    def forward(self, feats: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Predict from one feature map per level (same order as ``levels``)."""
        if len(feats) != len(self.level_names):
            raise ValueError(
                f"the {self.task} head has levels {self.level_names}, got "
                f"{len(feats)} feature maps"
            )
        return {n: getattr(self, n)(x) for n, x in zip(self.level_names, feats)}

    def forward_final(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """The final level's raw output, from the last feature map."""
        return getattr(self, self.level_names[-1])(feats[-1])

    def _stack_batch_gt(self, data_samples: Sequence) -> torch.Tensor:
        """The task's labels of a training batch, (B, C, H, W)."""
        field = self.info.gt_field
        labels = []
        for i, sample in enumerate(data_samples):
            if field not in sample:
                raise ValueError(
                    f"data sample {i} has no {field} for task {self.task!r}; "
                    "every sample of a training batch needs a label for every "
                    "task of the model"
                )
            labels.append(getattr(sample, field).data)
        return torch.stack(labels)

    def loss(
        self, feats: Sequence[torch.Tensor], data_samples: Sequence, train_cfg=None
    ) -> TaskLosses:
        """Losses of every level against the samples' labels.

        Returns:
            TaskLosses: ``{task}.loss`` (final) and ``{task}.{level}.loss``,
            and in ``labelled[task]`` whether the batch had any labelled
            pixel of the task (a task without one has exact zero losses).
        """
        preds = self.forward(feats)
        gt = self._stack_batch_gt(data_samples).to(preds[self.level_names[-1]].device)
        gt = self.kind.loss_target(gt)
        losses = self.loss_by_feat(preds, gt)
        return TaskLosses(losses, {self.task: self.kind.labelled(gt).any()})

    def loss_by_feat(
        self, preds: Dict[str, torch.Tensor], gt: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        """Loss of every level: ``{task}.loss`` (final), ``{task}.{level}.loss``."""
        losses = {}
        final = self.level_names[-1]
        for name, pred in preds.items():
            key = f"{self.task}.loss" if name == final else f"{self.task}.{name}.loss"
            losses[key] = checkpoint(
                partial(_upsampled_loss, self.loss_decode),
                pred,
                gt,
                enabled=self.loss_with_cp,
            )
        return losses

    def predict(
        self,
        feats: Sequence[torch.Tensor],
        batch_img_metas: Sequence[dict],
        test_cfg=None,
    ) -> List[Dict[str, torch.Tensor]]:
        """Predictions on the original images, from the final level only.

        Args:
            feats (Sequence[Tensor]): One feature map per level; the last
                (the final level's) is used.
            batch_img_metas (Sequence[dict]): Per image ``batch_input_shape``,
                ``img_shape``, ``ori_shape`` and optionally ``flip``,
                ``flip_direction``, ``scale_factor``.

        Returns:
            list[dict[str, Tensor]]: Per image, the data-sample fields of the
            prediction (``pred_<field>``, plus what the kind adds, e.g. a
            class map's logits), each (C, H, W) at the original size.
        """
        raw = self.forward_final(feats)
        return [
            self.kind.predictions(self.kind.restore(raw[i : i + 1], meta), self.info)
            for i, meta in enumerate(batch_img_metas)
        ]
