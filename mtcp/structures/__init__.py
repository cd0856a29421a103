from .multitask_data_sample import MultiTaskDataSample
from .tasks import IGNORE_INDEX, TASKS, TaskInfo, check_tasks, get_task

__all__ = [
    "MultiTaskDataSample",
    "IGNORE_INDEX",
    "TASKS",
    "TaskInfo",
    "check_tasks",
    "get_task",
]
