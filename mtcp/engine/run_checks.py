"""Checks of a built Runner that find configuration mistakes before the first
iteration instead of after an epoch.

- The model, the datasets and the metrics must agree on the tasks: a task the
  model predicts without labels in the training set fails in the first batch,
  one without labels in the validation set only at the first validation.
- ``CheckpointHook`` passes its unknown keyword arguments to
  ``Runner.save_checkpoint``, so a misspelt argument (``save_bset``) fails
  when the first checkpoint is written, after a full epoch.
"""

import inspect
from typing import Iterable, List, Optional

from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner

from mtcp.evaluation.metrics.multitask_metric import MultiTaskMetric, scored_tasks
from mtcp.utils.strict_loading import unwrap_model

# The arguments CheckpointHook sets itself when it calls save_checkpoint.
_SAVE_CHECKPOINT_SET_BY_HOOK = (
    "self",
    "out_dir",
    "filename",
    "file_client_args",
    "save_optimizer",
    "save_param_scheduler",
    "meta",
    "by_epoch",
    "backend_args",
)


def dataset_tasks(dataset) -> Optional[List[str]]:
    """The tasks a dataset provides labels for, looking through wrappers
    (``ConcatDataset``, ``RepeatDataset``, ...); None when it does not say."""
    if getattr(dataset, "tasks", None) is not None:
        return list(dataset.tasks)
    inner = getattr(dataset, "dataset", None)
    if inner is not None:
        return dataset_tasks(inner)
    parts = [dataset_tasks(d) for d in getattr(dataset, "datasets", ())]
    if parts and all(p is not None for p in parts):
        common = [t for t in parts[0] if all(t in p for p in parts)]
        return common
    return None


def _multitask_metrics(evaluator) -> Iterable[MultiTaskMetric]:
    for metric in getattr(evaluator, "metrics", ()):
        if isinstance(metric, MultiTaskMetric):
            yield metric


def check_tasks_agree(
    model_tasks: List[str],
    data_tasks: Optional[List[str]],
    evaluator,
    where: str,
    need_all_labels: bool,
) -> None:
    """Raise ``ValueError`` when the model, a dataset and its metrics
    disagree on the tasks.

    Args:
        model_tasks (list[str]): The model's tasks.
        data_tasks (list[str], optional): The dataset's (None: unknown).
        evaluator: The loop's evaluator, or None.
        where (str): The dataloader's config key, for the message.
        need_all_labels (bool): Every model task needs labels (training);
            otherwise only the scored ones do.
    """
    if data_tasks is not None:
        if need_all_labels and sorted(data_tasks) != sorted(model_tasks):
            raise ValueError(
                f"The model's tasks {model_tasks} and {where}.dataset's tasks "
                f"{data_tasks} differ; set the same `tasks` in model and "
                "dataset (the top-level configs share `tasks` from the dataset "
                "_base_)"
            )
    if evaluator is None:
        return
    for metric in _multitask_metrics(evaluator):
        name = type(metric).__name__
        if metric.tasks is None:
            # it scores every predicted task that has a metric
            scored = [t for t in model_tasks if t in scored_tasks()]
        else:
            scored = list(metric.tasks)
            not_predicted = [t for t in scored if t not in model_tasks]
            if not_predicted:
                raise ValueError(
                    f"{name} of {where} scores {not_predicted}, which the model "
                    f"does not predict (model tasks: {model_tasks})"
                )
        if data_tasks is not None:
            unlabelled = [t for t in scored if t not in data_tasks]
            if unlabelled:
                raise ValueError(
                    f"{name} of {where} scores {unlabelled}, but {where}.dataset "
                    f"has no labels for them (dataset tasks: {data_tasks})"
                )


def check_checkpoint_hook_arguments(runner: Runner) -> None:
    """Raise ``TypeError`` for a ``CheckpointHook`` argument that
    ``Runner.save_checkpoint`` would refuse at the first save."""
    accepted = set(inspect.signature(runner.save_checkpoint).parameters)
    accepted -= set(_SAVE_CHECKPOINT_SET_BY_HOOK)
    for hook in runner.hooks:
        if not isinstance(hook, CheckpointHook):
            continue
        unknown = sorted(set(hook.args) - accepted)
        if unknown:
            known = inspect.signature(type(hook).__init__).parameters
            names = [n for n in known if n not in ("self", "kwargs")]
            raise TypeError(
                f"default_hooks.checkpoint ({type(hook).__name__}) has no "
                f"argument {', '.join(repr(u) for u in unknown)}; its arguments "
                f"are {names}"
            )


def check_runner(runner: Runner, mode: str) -> None:
    """Run every check for a ``'train'`` or ``'test'`` run of ``runner``.

    Builds the loops' dataloaders and evaluators, which the run builds anyway.
    """
    if mode not in ("train", "test"):
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    model_tasks = getattr(unwrap_model(runner.model), "tasks", None)
    if mode == "train":
        check_checkpoint_hook_arguments(runner)
    if model_tasks is None:
        return
    model_tasks = list(model_tasks)
    if mode == "train":
        loops = [("train_dataloader", runner.train_loop, True)]
        if runner.val_loop is not None:
            loops.append(("val_dataloader", runner.val_loop, False))
    else:
        loops = [("test_dataloader", runner.test_loop, False)]
    for where, loop, need_all_labels in loops:
        check_tasks_agree(
            model_tasks,
            dataset_tasks(loop.dataloader.dataset),
            getattr(loop, "evaluator", None),
            where,
            need_all_labels,
        )
