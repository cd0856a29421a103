"""Warnings for label maps that load without error but look wrong.

The loaders check types, sizes and ranges; what they cannot refuse is a
value that is possible but implausible, such as depth in millimetres (a
valid float32 map, 1000 times too large). Each task's kind says what is
implausible (:meth:`mtcp.tasks.BaseTaskKind.plausibility`);
``check_dataset.py`` reports these as warnings before a long training run.
"""

from typing import Dict, List, Optional

from mtcp.structures import TASKS
from mtcp.tasks import task_kind


def label_warnings(results: dict, dataset: Optional[str] = None) -> List[str]:
    """Return one message per implausible label map of a loaded item.

    A label that is missing by design (its file is None: an image without
    that label in a partially labelled dataset) is not looked at.

    Args:
        results (dict): The item after ``LoadMultiTaskAnnotations``.
        dataset (str, optional): 'nyud', 'pascal', ... for the range checks
            that depend on the dataset.
    """
    warnings = []
    paths: Dict[str, Optional[str]] = results.get("ann_paths", {})
    for task in results.get("tasks", []):
        label = results.get(TASKS[task].results_key)
        if label is None or (task in paths and paths[task] is None):
            continue
        where = paths.get(task, results.get("img_path"))
        warnings += [
            f"{where}: {task}: {message}"
            for message in task_kind(task).plausibility(label, dataset)
        ]
    return warnings
