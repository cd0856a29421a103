"""Argument checks, the data preprocessor and loss parsing of :class:`MTCP`."""

from collections import OrderedDict
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType

from mtcp.structures import TASKS, MultiTaskDataSample
from mtcp.tasks import task_kind


def check_task_keys(
    values: Optional[dict],
    name: str,
    tasks: List[str],
    strict: bool = False,
    classes: bool = False,
) -> dict:
    """A per-task argument of :class:`MTCP` as a dict, its keys checked.

    Keys must be known tasks (with ``classes``: tasks whose kind predicts
    classes). Entries for tasks the model does not have are ignored (shared
    dataset configs), unless ``strict``.
    """
    values = dict(values or {})
    for task in values:
        if task not in TASKS:
            raise ValueError(
                f"MTCP.{name} names unknown task {task!r}; known tasks are "
                f"{list(TASKS)}"
            )
        if classes and not task_kind(task).takes_classes:
            raise ValueError(
                f"MTCP.{name} names {task!r}, whose kind "
                f"{TASKS[task].kind} does not predict classes"
            )
    extra = sorted(set(values) - set(tasks))
    if strict and extra:
        raise ValueError(
            f"MTCP.{name} names {extra}, which are not among the model's tasks {tasks}"
        )
    return values


def split_cfm(cfm: OptConfigType) -> Tuple[float, dict]:
    """``cfm`` split into the coherence loss weight and the CFM's arguments."""
    cfm = dict(cfm or {})
    weight = float(cfm.pop("coherence_weight", 1.0))
    if weight < 0:
        raise ValueError(f"MTCP cfm.coherence_weight must be >= 0, got {weight}")
    return weight, cfm


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
