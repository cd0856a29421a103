"""Dense prediction tasks and their kinds.

:data:`TASKS` is the one table of tasks (name -> kind, data field, label
key, channels, class keys); :data:`TASK_KINDS` registers the kinds, each a
class in one file that owns everything done differently per kind of map
(see :class:`BaseTaskKind`). Declare a task of your own in a config's
``task_table`` (:func:`declare_tasks`) or with :func:`register_task`.
"""

from .base_kind import BaseTaskKind, task_kind
from .binary_map import BinaryMap
from .boundary import Boundary
from .class_map import ClassMap
from .depth import Depth
from .human_parts import HumanParts
from .legend import Legend
from .normals import Normals
from .registry import TASK_KINDS
from .task_table import (
    IGNORE_INDEX,
    TASKS,
    TaskInfo,
    check_tasks,
    declare_tasks,
    get_task,
    register_task,
)

# The built-in tasks; semseg keeps mmseg's field and key names.
register_task(
    "semseg",
    "ClassMap",
    field="sem_seg",
    results_key="gt_seg_map",
    classes_key="classes",
    palette_key="palette",
)
register_task(
    "parts", "HumanParts", classes_key="part_classes", palette_key="part_palette"
)
register_task("depth", "Depth")
register_task("normals", "Normals")
register_task("saliency", "BinaryMap")
register_task("edge", "Boundary")

__all__ = [
    "BaseTaskKind",
    "BinaryMap",
    "Boundary",
    "ClassMap",
    "Depth",
    "HumanParts",
    "IGNORE_INDEX",
    "Legend",
    "Normals",
    "TASKS",
    "TASK_KINDS",
    "TaskInfo",
    "check_tasks",
    "declare_tasks",
    "get_task",
    "register_task",
    "task_kind",
]
