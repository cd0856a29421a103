"""The one table of dense prediction tasks every part of mtcp agrees on.

A task is a name used in configs (``tasks=['semseg', 'depth']``) bound to a
*kind* (a class of :data:`~mtcp.tasks.TASK_KINDS` that owns everything done
differently per kind of map), the data-sample field of its maps, the key of
its label map in a pipeline's ``results``, its channels and, for class maps,
the ``dataset_meta`` keys of its class names and palette. The built-in tasks
are declared in :mod:`mtcp.tasks`; a config declares more with a top-level
``task_table`` (see :func:`declare_tasks`), a package with
:func:`register_task`.
"""

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

from .registry import TASK_KINDS

IGNORE_INDEX = 255


@dataclass(frozen=True)
class TaskInfo:
    """Static description of one dense prediction task.

    Attributes:
        name (str): Task name used in configs, losses, metrics and logs.
        kind (str): Registered name of its kind in
            :data:`~mtcp.tasks.TASK_KINDS`, e.g. ``'ClassMap'``.
        field (str): Data sample field suffix (``gt_<field>``,
            ``pred_<field>``).
        results_key (str): Key of the label map in a pipeline ``results``.
        channels (int, optional): Channels of the label map; None takes the
            kind's (class maps: 1, normals: 3).
        classes_key (str, optional): ``dataset_meta`` key of the class names
            of a class-map task.
        palette_key (str, optional): ``dataset_meta`` key of its palette.
    """

    name: str
    kind: str
    field: str
    results_key: str
    channels: Optional[int] = None
    classes_key: Optional[str] = None
    palette_key: Optional[str] = None

    @property
    def gt_field(self) -> str:
        return f"gt_{self.field}"

    @property
    def pred_field(self) -> str:
        return f"pred_{self.field}"


TASKS: Dict[str, TaskInfo] = {}


def register_task(
    name: str,
    kind: str,
    field: Optional[str] = None,
    results_key: Optional[str] = None,
    channels: Optional[int] = None,
    classes_key: Optional[str] = None,
    palette_key: Optional[str] = None,
) -> TaskInfo:
    """Add a task to :data:`TASKS` (again with the same description is a
    no-op; another description of a known name is an error).

    Args:
        name (str): Task name, an identifier (it prefixes loss and metric
            keys, so it cannot contain '.' or '/').
        kind (str): Name of its kind in :data:`~mtcp.tasks.TASK_KINDS`.
        field (str, optional): Data sample field; defaults to ``name``.
        results_key (str, optional): Pipeline key of the label map; defaults
            to ``gt_<name>``.
        channels (int, optional): Label channels; defaults to the kind's.
        classes_key (str, optional): ``dataset_meta`` key of the class names
            (class maps); defaults to ``<name>_classes`` for a kind that
            predicts classes.
        palette_key (str, optional): ``dataset_meta`` key of the palette;
            defaults to ``<name>_palette`` for such a kind.

    Returns:
        TaskInfo: The registered description.
    """
    where = f"task {name!r}"
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a task name must be an identifier, got {name!r}")
    kind_cls = TASK_KINDS.get(kind)
    if kind_cls is None:
        raise KeyError(
            f"{where}: unknown task kind {kind!r}; registered kinds: "
            f"{sorted(TASK_KINDS.module_dict)} (a kind of your own package "
            "must be imported first, e.g. with custom_imports)"
        )
    if channels is not None and (int(channels) != channels or channels < 1):
        raise ValueError(
            f"{where}: channels must be a positive integer, got {channels}"
        )
    if kind_cls.takes_classes:
        classes_key = classes_key or f"{name}_classes"
        palette_key = palette_key or f"{name}_palette"
    info = TaskInfo(
        name=name,
        kind=kind,
        field=field or name,
        results_key=results_key or f"gt_{name}",
        channels=None if channels is None else int(channels),
        classes_key=classes_key,
        palette_key=palette_key,
    )
    if name in TASKS and TASKS[name] != info:
        raise ValueError(
            f"{where} is already declared as {TASKS[name]}; it cannot be "
            f"declared again as {info}"
        )
    for other in TASKS.values():
        if other.name != name and (
            other.field == info.field or other.results_key == info.results_key
        ):
            raise ValueError(
                f"{where}: field {info.field!r} / results key "
                f"{info.results_key!r} are already used by task {other.name!r}"
            )
    TASKS[name] = info
    return info


def declare_tasks(task_table: Optional[Mapping[str, Mapping]]) -> List[str]:
    """Register the tasks a config declares in its top-level ``task_table``.

    ``task_table=dict(albedo=dict(kind='Albedo', channels=3))`` declares task
    ``albedo`` of kind ``Albedo`` (keyword arguments of
    :func:`register_task`). ``tools/train.py``, ``tools/test.py`` and
    :func:`mtcp.apis.init_model` apply it after the config's
    ``custom_imports``, before anything is built.

    Returns:
        list[str]: The declared task names.
    """
    names = []
    for name, spec in dict(task_table or {}).items():
        if not isinstance(spec, Mapping) or "kind" not in spec:
            raise ValueError(
                f"task_table[{name!r}] must be a dict with at least `kind`, "
                f"got {spec!r}"
            )
        register_task(name, **spec)
        names.append(name)
    return names


def get_task(name: str) -> TaskInfo:
    """Return the :class:`TaskInfo` of ``name`` or fail naming the choices."""
    if name not in TASKS:
        raise KeyError(
            f"Unknown task {name!r}; known tasks are {list(TASKS)} (declare "
            "your own in the config's `task_table`)"
        )
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
