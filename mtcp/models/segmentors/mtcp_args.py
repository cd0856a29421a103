"""Validation of :class:`MTCP`'s arguments."""

from typing import Dict, List, Optional

from mmseg.utils import ConfigType, OptConfigType

from mtcp.structures import TASKS

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

TEST_CFG_KEYS = ("flip",)


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


def check_test_cfg(test_cfg: OptConfigType) -> dict:
    """``test_cfg`` with its defaults, or an error naming the bad key."""
    test_cfg = dict(dict(flip=False), **(test_cfg or {}))
    unknown = set(test_cfg) - set(TEST_CFG_KEYS)
    if unknown:
        raise ValueError(
            f"MTCP.test_cfg has unknown keys {sorted(unknown)}; it accepts "
            f"{list(TEST_CFG_KEYS)}"
        )
    if not isinstance(test_cfg["flip"], bool):
        raise ValueError(
            f"MTCP.test_cfg.flip must be True or False, got {test_cfg['flip']!r}"
        )
    return test_cfg


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
