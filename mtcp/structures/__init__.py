from mtcp.tasks import IGNORE_INDEX, TASKS, TaskInfo, check_tasks, get_task

from .multitask_data_sample import MultiTaskDataSample

__all__ = [
    "MultiTaskDataSample",
    "IGNORE_INDEX",
    "TASKS",
    "TaskInfo",
    "check_tasks",
    "get_task",
]
