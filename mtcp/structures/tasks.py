"""The table of dense prediction tasks every part of mtcp agrees on.

One entry per task: the name used in configs (``tasks=['semseg', 'depth']``),
the key of its label map in a transform's ``results`` dict, the field of the
data sample (``gt_<field>`` / ``pred_<field>``), the value used to pad its
label map, how it is predicted, how many channels its label map has and,
for class tasks, the ``dataset_meta`` keys of its class names and palette.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence


@dataclass(frozen=True)
class TaskInfo:
    """Static description of one dense prediction task.

    Attributes:
        name (str): Task name used in configs, losses, metrics and logs.
        results_key (str): Key of the label map in a pipeline ``results`` dict.
        field (str): Data sample field suffix (``gt_<field>``, ``pred_<field>``).
        pad_value (float): Value used to pad the label map.
        kind (str): ``'class'`` (integer label map, 255 = ignore),
            ``'depth'`` (metric depth, 0 = invalid), ``'normals'`` (unit
            vectors, zero vector = invalid) or ``'binary'`` (0/1, 255 = ignore).
        label_channels (int): Channels of the label map (3 for normals).
        classes_key (str, optional): ``dataset_meta`` key of the class names
            of a class task (None for the others).
        palette_key (str, optional): ``dataset_meta`` key of the palette of
            a class task (None for the others).
    """

    name: str
    results_key: str
    field: str
    pad_value: float
    kind: str
    label_channels: int = 1
    classes_key: Optional[str] = None
    palette_key: Optional[str] = None

    @property
    def gt_field(self) -> str:
        return f"gt_{self.field}"

    @property
    def pred_field(self) -> str:
        return f"pred_{self.field}"


IGNORE_INDEX = 255

TASKS: Dict[str, TaskInfo] = {
    "semseg": TaskInfo(
        "semseg",
        "gt_seg_map",
        "sem_seg",
        IGNORE_INDEX,
        "class",
        classes_key="classes",
        palette_key="palette",
    ),
    "parts": TaskInfo(
        "parts",
        "gt_parts",
        "parts",
        IGNORE_INDEX,
        "class",
        classes_key="part_classes",
        palette_key="part_palette",
    ),
    "depth": TaskInfo("depth", "gt_depth", "depth", 0.0, "depth"),
    "normals": TaskInfo("normals", "gt_normals", "normals", 0.0, "normals", 3),
    "saliency": TaskInfo("saliency", "gt_saliency", "saliency", IGNORE_INDEX, "binary"),
    "edge": TaskInfo("edge", "gt_edge", "edge", IGNORE_INDEX, "binary"),
}


def get_task(name: str) -> TaskInfo:
    """Return the :class:`TaskInfo` of ``name`` or fail naming the choices."""
    if name not in TASKS:
        raise KeyError(f"Unknown task {name!r}; known tasks are {sorted(TASKS)}")
    return TASKS[name]


def check_tasks(
    tasks: Sequence[str], available: Sequence[str], where: str = "tasks"
) -> List[str]:
    """Validate a task list against the tasks a component supports.

    Args:
        tasks (Sequence[str]): Requested task names.
        available (Sequence[str]): Names the component supports.
        where (str): Name of the config field, used in the error message.

    Returns:
        list[str]: The validated task names, in the requested order.
    """
    if isinstance(tasks, str):
        raise TypeError(
            f"`{where}` must be a list of task names, got the string {tasks!r}"
        )
    tasks = list(tasks)
    if not tasks:
        raise ValueError(f"`{where}` is empty; choose from {list(available)}")
    for name in tasks:
        get_task(name)
        if name not in available:
            raise ValueError(
                f"`{where}` names task {name!r}, which is not "
                f"available here; choose from {list(available)}"
            )
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"`{where}` lists a task twice: {tasks}")
    return tasks
