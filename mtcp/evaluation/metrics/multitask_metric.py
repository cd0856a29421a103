"""The metric that scores every task of a multi-task model in one pass."""

import functools
import logging
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import (
    broadcast_object_list,
    collect_results,
    get_rank,
    get_world_size,
    is_main_process,
)
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from mmseg.registry import METRICS

from mtcp.structures import TASKS, get_task
from mtcp.tasks import task_kind
from mtcp.utils.prediction_writer import write_predictions

from .base_meter import BaseMeter, Statistics, pool_statistics
from .delta_m import check_baselines, delta_m
from .segmentation_meter import ABSENT_CLASS_MODES


def scored_tasks() -> List[str]:
    """The tasks whose kind has a meter, in the order of the task table."""
    return [task for task in TASKS if task_kind(task).has_meter]


@METRICS.register_module()
class MultiTaskMetric(BaseMetric):
    """Scores every task of a multi-task model, each with its kind's meter.

    Each data sample carries ``gt_<field>`` and ``pred_<field>`` per task
    (fields from :data:`mtcp.tasks.TASKS`), with predictions at the
    original image size. :meth:`process` reduces every sample to small
    per-task statistics (see the meters) and adds them up: ``self.results``
    holds at most two entries, the sum over the earlier samples and the last
    sample, so the memory per rank does not grow with the dataset.
    :meth:`evaluate` leaves out the sample the distributed sampler padded,
    gathers one sum per rank, and :meth:`compute_metrics` pools them, logs
    one table per task and returns scalars keyed ``{task}/{name}``:

    - ``semseg/`` and ``parts/``: ``mIoU``, ``aAcc``, ``mAcc`` (percent);
    - ``depth/``: ``rmse`` (m), ``abs_rel``, ``log_rmse``, ``delta1``,
      ``delta2``, ``delta3`` (fractions);
    - ``normals/``: ``mean``, ``median``, ``rmse`` (degrees), ``11.25``,
      ``22.5``, ``30`` (percent);
    - ``saliency/``: ``maxF`` (percent), ``threshold``;
    - a task of another kind: the figures of its kind's meter;
    - ``multitask/delta_m`` (percent), when ``baselines`` cover every task
      whose kind names a Delta_m figure.

    Human-parts labels that are all ignore (images without a person) add
    nothing, as ignored pixels of every task do.

    Args:
        tasks (Sequence[str], optional): Tasks to score. Defaults to None:
            every task with a meter whose ``pred_<field>`` a sample carries.
        absent_class (str): ``'zero'`` (protocol) or ``'nan'`` (mmseg), see
            :class:`SegmentationMeter`; for every class-map task. Defaults
            to ``'zero'``.
        max_depth (float, optional): Depth cap in metres, see
            :class:`DepthMeter`; for every depth task. Defaults to None (no
            cap).
        meters (Mapping[str, dict], optional): Per task, keyword arguments
            of its kind's meter, e.g. ``dict(edge=dict(max_dist=0.011))``.
            Defaults to None.
        baselines (Mapping[str, float], optional): Single-task score per task
            for Delta_m, in the reported units, e.g.
            ``dict(semseg=53.20, depth=0.4923, normals=19.22)``. Defaults to
            None (no Delta_m; a note is logged).
        num_classes (Mapping[str, int], optional): Class count per class
            task, for use without ``dataset_meta``; otherwise the counts are
            the lengths of the task's class names in ``dataset_meta``
            (``classes`` for semseg, ``part_classes`` for parts). Defaults
            to None.
        format_only (bool): Only save the predictions to ``output_dir``, for
            test sets without labels; no figures are computed. Defaults to
            False.
        output_dir (str, optional): Where to save predictions, one folder
            per task, one file per image named after ``img_path``, in the
            format of the task's kind: class maps as uint8 .png (plus one
            when the sample's ``reduce_zero_label`` is set), depth in metres
            as float32 .npy, normals as RGB uint8 .png with ``v = 255 (n +
            1) / 2``, saliency and boundaries as uint8 .png of ``255 p``.
            Defaults to None (nothing saved).
        collect_device (str): ``'cpu'`` or ``'gpu'``, where the per-rank
            results are gathered. Defaults to ``'cpu'``.
        prefix (str, optional): Prepended to every key by mmengine. Defaults
            to None.
    """

    def __init__(
        self,
        tasks: Optional[Sequence[str]] = None,
        absent_class: str = "zero",
        max_depth: Optional[float] = None,
        meters: Optional[Mapping[str, dict]] = None,
        baselines: Optional[Mapping[str, float]] = None,
        num_classes: Optional[Mapping[str, int]] = None,
        format_only: bool = False,
        output_dir: Optional[str] = None,
        collect_device: str = "cpu",
        prefix: Optional[str] = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if tasks is not None:
            if isinstance(tasks, str):
                raise TypeError(f"tasks must be a list of names, got {tasks!r}")
            for task in tasks:
                self._check_task(task)
            tasks = list(tasks)
        if absent_class not in ABSENT_CLASS_MODES:
            raise ValueError(
                f"absent_class must be one of {ABSENT_CLASS_MODES}, "
                f"got {absent_class!r}"
            )
        num_classes = dict(num_classes or {})
        for task in num_classes:
            if not task_kind(task).takes_classes:
                raise ValueError(
                    f"num_classes names {task!r}, which does not predict "
                    f"classes (its kind is {TASKS[task].kind})"
                )
        meters = dict(meters or {})
        for task, kwargs in meters.items():
            self._check_task(task)
            if not isinstance(kwargs, Mapping):
                raise TypeError(
                    f"meters[{task!r}] must be a dict of the meter's arguments, "
                    f"got {kwargs!r}"
                )
        if format_only and output_dir is None:
            raise ValueError("format_only=True needs an output_dir to save to")
        self.tasks: Optional[List[str]] = tasks
        self.shared_options = dict(absent_class=absent_class, max_depth=max_depth)
        self.meter_kwargs = meters
        self.baselines = None if baselines is None else check_baselines(baselines)
        self.num_classes = num_classes
        self.format_only = format_only
        self.output_dir = output_dir
        self._meters: Dict[str, BaseMeter] = {}
        self._num_processed = 0

    @staticmethod
    def _check_task(task: str) -> None:
        get_task(task)
        if not task_kind(task).has_meter:
            raise ValueError(
                f"task {task!r} has no metric (its kind {TASKS[task].kind} has "
                f"no meter); choose from {scored_tasks()}"
            )

    def _build_meter(self, task: str) -> BaseMeter:
        info, kind = TASKS[task], task_kind(task)
        names = None
        if info.classes_key is not None:
            names = (self.dataset_meta or {}).get(info.classes_key)
            names = None if names is None else list(names)
        count = self.num_classes.get(task)
        if kind.takes_classes:
            if count is None and names is None:
                raise ValueError(
                    f"MultiTaskMetric cannot tell how many {task} classes there "
                    f"are: dataset_meta has no {info.classes_key!r} and "
                    f"num_classes has no {task!r} entry"
                )
            if count is not None and names is not None and count != len(names):
                raise ValueError(
                    f"num_classes[{task!r}] = {count}, but dataset_meta"
                    f"[{info.classes_key!r}] has {len(names)} names"
                )
            count = len(names) if count is None else count
        options = {k: self.shared_options[k] for k in kind.metric_options}
        options.update(self.meter_kwargs.get(task, {}))
        try:
            return kind.build_meter(info, count, names, **options)
        except TypeError as error:
            raise TypeError(
                f"MultiTaskMetric: the meter of task {task!r} refuses its "
                f"arguments {sorted(options)} (meters[{task!r}]): {error}"
            ) from error

    def meter(self, task: str) -> BaseMeter:
        """Return the (cached) meter of ``task``."""
        if task not in self._meters:
            self._meters[task] = self._build_meter(task)
        return self._meters[task]

    @staticmethod
    def _data(sample: dict, field: str, task: str) -> torch.Tensor:
        if field not in sample:
            raise KeyError(
                f"{sample.get('img_path', 'a data sample')}: task {task!r} needs "
                f"`{field}`, but the sample has only {sorted(sample)}"
            )
        value = sample[field]
        data = value.get("data") if isinstance(value, dict) else value.data
        if data is None:
            raise KeyError(
                f"{sample.get('img_path', 'a data sample')}: `{field}` of task "
                f"{task!r} has no `data`"
            )
        return data

    def _sample_tasks(self, sample: dict) -> List[str]:
        if self.tasks is not None:
            return self.tasks
        tasks = [t for t in scored_tasks() if TASKS[t].pred_field in sample]
        if not tasks:
            raise KeyError(
                f"{sample.get('img_path', 'a data sample')}: no prediction of a "
                f"task with a metric ({[TASKS[t].pred_field for t in scored_tasks()]})"
                f"; the sample has {sorted(sample)}"
            )
        return tasks

    def process(self, data_batch: dict, data_samples: Sequence) -> None:
        """Reduce each sample to per-task statistics (and save predictions).

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict | MultiTaskDataSample]): Samples with
                ``gt_<field>`` and ``pred_<field>`` for every task.
        """
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            tasks = self._sample_tasks(sample)
            if self.output_dir is not None:
                self._save_predictions(sample, tasks)
            if self.format_only:
                continue
            stats = {task: self._task_statistics(sample, task) for task in tasks}
            # (images with a label, images) per task, pooled like the rest
            stats[IMAGE_COUNTS] = {
                task: np.array([int(_has_label(stats[task])), 1]) for task in tasks
            }
            self._add(stats)

    def _add(self, stats: Dict[str, Statistics]) -> None:
        """Keep ``self.results`` at ``[pooled earlier samples, last sample]``."""
        self._num_processed += 1
        if len(self.results) == 2:
            self.results[0] = pool_statistics(self.results[0], self.results.pop())
        self.results.append(stats)

    def evaluate(self, size: int) -> Dict[str, float]:
        """Pool the statistics over the ranks and compute the figures.

        mmengine's ``DefaultSampler`` pads the dataset to a multiple of the
        world size with at most one repeated sample per rank, the last one it
        hands out: rank ``r``'s ``j``-th sample is sample ``j * world_size +
        r`` of the padded order, and those from ``size`` on are dropped here,
        as mmengine's ``collect_results`` drops them from per-sample lists.

        Args:
            size (int): Length of the whole dataset.

        Returns:
            dict[str, float]: The figures, on every rank.
        """
        world_size, rank = get_world_size(), get_rank()
        pooled = self._pooled_without_padding(size, world_size, rank)
        gathered = collect_results(
            [pooled], world_size, self.collect_device, tmpdir=self.collect_dir
        )
        if is_main_process():
            metrics = self.compute_metrics([r for r in gathered if r is not None])
            if self.prefix:
                metrics = {f"{self.prefix}/{k}": v for k, v in metrics.items()}
            broadcast = [metrics]
        else:
            broadcast = [None]
        broadcast_object_list(broadcast)
        self.results.clear()
        self._num_processed = 0
        return broadcast[0]

    def _pooled_without_padding(
        self, size: int, world_size: int, rank: int
    ) -> Optional[Dict[str, Statistics]]:
        count = self._num_processed
        if count >= 2 and (count - 2) * world_size + rank >= size:
            raise ValueError(
                f"MultiTaskMetric: rank {rank} of {world_size} processed {count} "
                f"samples of a dataset of {size}; more than its last one would be "
                "padding, which mmengine's DefaultSampler never does"
            )
        if self.format_only or count == 0:
            return None
        keep = list(self.results)
        if (count - 1) * world_size + rank >= size:
            keep.pop()
        return None if not keep else functools.reduce(pool_statistics, keep)

    def _task_statistics(self, sample: dict, task: str) -> Statistics:
        info = TASKS[task]
        meter = self.meter(task)
        pred = self._data(sample, info.pred_field, task)
        gt = self._data(sample, info.gt_field, task)
        try:
            return meter.statistics(pred, gt)
        except ValueError as error:
            raise ValueError(
                f"{sample.get('img_path', 'a data sample')}: {error}"
            ) from error

    def _save_predictions(self, sample: dict, tasks: Sequence[str]) -> None:
        if "img_path" not in sample:
            raise KeyError("saving predictions needs `img_path` in the data sample")
        name = osp.splitext(osp.basename(sample["img_path"]))[0]
        preds = {
            task: self._data(sample, TASKS[task].pred_field, task) for task in tasks
        }
        write_predictions(
            preds, self.output_dir, name, bool(sample.get("reduce_zero_label"))
        )

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Pool the statistics of all samples into the figures.

        Args:
            results (list[dict]): ``task -> statistics`` of samples or of
                pooled sets of samples (see :meth:`process`).

        Returns:
            dict[str, float]: Figures keyed ``{task}/{name}``.
        """
        if self.format_only:
            print_log(f"predictions saved to {self.output_dir}", logger="current")
            return {}
        if not results:
            print_log(
                "MultiTaskMetric: no sample was evaluated",
                logger="current",
                level=logging.WARNING,
            )
            return {}
        pooled = functools.reduce(pool_statistics, results)
        tasks = [t for t in TASKS if t in pooled]
        metrics: Dict[str, float] = {}
        for task in tasks:
            meter = self.meter(task)
            meter.reset()
            meter.accumulate(pooled[task])
            task_results = meter.compute()
            labelled, images = pooled[IMAGE_COUNTS][task].tolist()
            print_log(
                f"{task} results ({labelled} of {images} images with a "
                f"label):\n{meter.format_table(task_results)}",
                logger="current",
            )
            metrics.update({f"{task}/{k}": v for k, v in task_results.items()})
        if self._delta_m_ready(tasks):
            metrics["multitask/delta_m"] = delta_m(metrics, self.baselines)
            print_log(
                f"multitask/delta_m = {metrics['multitask/delta_m']:.2f} % "
                f"against single-task baselines {self.baselines}",
                logger="current",
            )
        return metrics

    def _delta_m_ready(self, tasks: Sequence[str]) -> bool:
        """Whether the baselines cover the evaluated tasks, noting why not."""
        if self.baselines is None:
            print_log(
                "multitask/delta_m is not reported: no `baselines` given",
                logger="current",
            )
            return False
        extra = sorted(set(self.baselines) - set(tasks))
        if extra:
            raise ValueError(
                f"baselines name {extra}, which were not evaluated (tasks: {tasks})"
            )
        outside = [t for t in tasks if not task_kind(t).delta_m]
        if outside:
            print_log(
                f"multitask/delta_m leaves out {outside}: their kinds name no "
                "Delta_m figure",
                logger="current",
                level=logging.WARNING,
            )
        missing = [t for t in tasks if task_kind(t).delta_m and t not in self.baselines]
        if missing:
            print_log(
                f"multitask/delta_m is not reported: no baseline for {missing}",
                logger="current",
                level=logging.WARNING,
            )
            return False
        return True


# Key of the per-task image counts among the pooled statistics.
IMAGE_COUNTS = "_image_counts"


def _has_label(stats: Statistics) -> bool:
    """Whether an image's statistics count any labelled pixel (all are sums
    over the labelled pixels, so an unlabelled image gives only zeros)."""
    return any(bool(np.any(value != 0)) for value in stats.values())
