"""Argument checks, sub-module builders and label stacking of :class:`MTCP`."""

from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType

from mtcp.structures import TASKS, MultiTaskDataSample

from ..heads import task_head_type

# The loss of each task when ``losses`` does not override it (SPEC section 5).
DEFAULT_LOSSES = dict(
    semseg=dict(type="TaskCrossEntropyLoss"),
    parts=dict(type="TaskCrossEntropyLoss"),
    depth=dict(type="DepthL1Loss"),
    normals=dict(type="NormalsL1Loss"),
    saliency=dict(type="BalancedBCELoss"),
    edge=dict(type="BalancedBCELoss", pos_weight=0.95),
)


def task_channels(tasks: List[str], num_classes: Dict[str, int]) -> Dict[str, int]:
    """Predicted channels of each task: its head's, or ``num_classes[task]``.

    Entries of ``num_classes`` for known tasks the model does not have are
    ignored (shared dataset configs).
    """
    takes_classes = [
        t for t, i in TASKS.items() if task_head_type(i.kind).fixed_channels is None
    ]
    for name, value in num_classes.items():
        if name not in takes_classes:
            raise ValueError(
                f"MTCP.num_classes names {name!r}, which is not a class-map "
                f"task; only {takes_classes} take num_classes"
            )
        if int(value) != value or value < 2:
            raise ValueError(
                f"MTCP.num_classes[{name!r}] must be an integer >= 2, got {value}"
            )
    channels = {}
    for t in tasks:
        fixed = task_head_type(TASKS[t].kind).fixed_channels
        if fixed is None and t not in num_classes:
            raise ValueError(
                f"MTCP: task {t!r} predicts classes; give their number in "
                f"num_classes, e.g. num_classes=dict({t}=40)"
            )
        channels[t] = int(num_classes[t]) if fixed is None else fixed
    return channels


def loss_cfgs(
    tasks: List[str], losses: Optional[Dict[str, ConfigType]]
) -> Dict[str, dict]:
    """Each task's loss config: ``losses[task]`` or :data:`DEFAULT_LOSSES`."""
    losses = dict(losses or {})
    unknown = set(losses) - set(tasks)
    if unknown:
        raise ValueError(
            f"MTCP.losses names {sorted(unknown)}, which are not among the "
            f"model's tasks {tasks}"
        )
    return {t: dict(losses.get(t, DEFAULT_LOSSES[t])) for t in tasks}


def check_head_bias_init(head_bias_init: Optional[Dict[str, float]]) -> dict:
    """``head_bias_init`` as a dict; known tasks the model lacks are ignored."""
    head_bias_init = dict(head_bias_init or {})
    for t in head_bias_init:
        if t not in TASKS:
            raise ValueError(
                f"MTCP.head_bias_init names unknown task {t!r}; known tasks "
                f"are {sorted(TASKS)}"
            )
    return head_bias_init


def split_cfm(cfm: OptConfigType) -> Tuple[float, dict]:
    """``cfm`` split into the coherence loss weight and the CFM's arguments."""
    cfm = dict(cfm or {})
    weight = float(cfm.pop("coherence_weight", 1.0))
    if weight < 0:
        raise ValueError(f"MTCP cfm.coherence_weight must be >= 0, got {weight}")
    return weight, cfm


def build_cfms(tasks: List[str], channels: int, cfm: dict) -> nn.ModuleDict:
    """One ``CoherenceFusionModule`` per task."""
    cfg = dict(type="CoherenceFusionModule", **cfm)
    cfg.update(channels=channels, num_aux=len(tasks) - 1)
    return nn.ModuleDict({t: MODELS.build(cfg) for t in tasks})


def build_srms(
    tasks: List[str], channels: int, stage_channels: List[int], srm: OptConfigType
) -> nn.ModuleDict:
    """Per task, one ``SpatialRefinementModule`` per stage, coarsest first."""

    def one(i: int, c: int) -> nn.Module:
        cfg = dict(type="SpatialRefinementModule", **(srm or {}))
        cfg.update(
            in_channels=channels,
            stage_channels=c,
            out_channels=channels,
            with_carry=i < len(stage_channels) - 1,
        )
        return MODELS.build(cfg)

    return nn.ModuleDict(
        {
            t: nn.ModuleList(one(i, c) for i, c in enumerate(stage_channels))
            for t in tasks
        }
    )


def stack_labels(
    task: str, data_samples: Sequence[MultiTaskDataSample], tasks: List[str]
) -> torch.Tensor:
    """The labels of ``task`` in a training batch, (B, C, H, W)."""
    field = TASKS[task].gt_field
    labels = []
    for i, sample in enumerate(data_samples):
        if field not in sample:
            raise ValueError(
                f"MTCP.loss: data sample {i} has no {field} for task {task!r}; "
                "every sample of a training batch needs a label for every "
                f"task of the model {tasks}"
            )
        labels.append(getattr(sample, field).data)
    return torch.stack(labels)


def unresized_samples(inputs: torch.Tensor) -> List[MultiTaskDataSample]:
    """Data samples taking ``inputs`` as unpadded, unresized images."""
    shape = tuple(inputs.shape[-2:])
    meta = dict(
        batch_input_shape=shape, pad_shape=shape, img_shape=shape, ori_shape=shape
    )
    return [MultiTaskDataSample(metainfo=meta) for _ in range(inputs.shape[0])]


def parse_task_losses(
    losses: Dict[str, torch.Tensor], weighting: Optional[nn.Module]
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Sum the loss terms, or hand them to ``weighting``; see
    :meth:`MTCP.parse_losses`."""
    for name, value in losses.items():
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise TypeError(
                f"MTCP.parse_losses: {name!r} must be a scalar tensor, got "
                f"{type(value).__name__} {getattr(value, 'shape', '')}"
            )
    if weighting is not None:
        return weighting(losses, getattr(losses, "labelled", None))
    total = sum(losses.values())
    log_vars = OrderedDict(loss=total.detach())
    log_vars.update((name, value.detach()) for name, value in losses.items())
    return total, log_vars


def build_heads(
    out_channels: Dict[str, int],
    in_channels: int,
    levels: List[str],
    losses: Dict[str, dict],
    conv_cfg: OptConfigType,
    bias_init: Dict[str, float],
    loss_with_cp: bool,
) -> nn.ModuleDict:
    """The task head of each task (``out_channels``' keys), by its kind."""
    return nn.ModuleDict(
        {
            t: MODELS.build(
                dict(
                    type=task_head_type(TASKS[t].kind).__name__,
                    in_channels=in_channels,
                    out_channels=c,
                    levels=levels,
                    loss_decode=losses[t],
                    conv_cfg=conv_cfg,
                    bias_init=bias_init.get(t, 0.0),
                    loss_with_cp=loss_with_cp,
                )
            )
            for t, c in out_channels.items()
        }
    )


def build_preprocessor(
    data_preprocessor: Union[ConfigType, nn.Module, None],
) -> nn.Module:
    """The data preprocessor, ``MultiTaskDataPreProcessor`` by default.

    Built here from mmseg's registry: ``BaseModel`` would look the type up in
    mmengine's root registry, which only works under a default scope.
    """
    if data_preprocessor is None:
        data_preprocessor = dict(type="MultiTaskDataPreProcessor")
    if isinstance(data_preprocessor, dict):
        data_preprocessor = MODELS.build(data_preprocessor)
    return data_preprocessor
