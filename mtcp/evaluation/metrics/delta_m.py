"""Delta_m, the average relative gain over single-task models."""

from typing import Dict, Mapping, Tuple

from mtcp.tasks import task_kind


def delta_m_key(task: str) -> Tuple[str, bool]:
    """``(metric key, lower is better)`` of ``task`` in Delta_m, e.g.
    ``('semseg/mIoU', False)``: the figure its kind names (Maninis et al.,
    CVPR 2019)."""
    figure = task_kind(task).delta_m
    if figure is None:
        raise ValueError(
            f"task {task!r} has no Delta_m figure (its kind "
            f"{task_kind(task).name} names none)"
        )
    name, lower_is_better = figure
    return f"{task}/{name}", lower_is_better


def check_baselines(baselines: Mapping[str, float]) -> Dict[str, float]:
    """Validate a ``task -> single-task score`` dict."""
    checked = {}
    for task, score in baselines.items():
        delta_m_key(task)
        if not score:
            raise ValueError(f"baseline of {task!r} is {score}; it must be non-zero")
        checked[task] = float(score)
    return checked


def delta_m(results: Mapping[str, float], baselines: Mapping[str, float]) -> float:
    """Return ``Delta_m`` in percent.

    ``Delta_m = 100 / T * sum_t (-1)^{l_t} (M_t - S_t) / S_t`` over the T
    tasks of ``baselines``, with ``l_t = 1`` when lower is better. Positive
    means better than the single-task models on average.

    Args:
        results (Mapping[str, float]): Figures keyed ``{task}/{name}`` as
            :class:`MultiTaskMetric` returns them (``semseg/mIoU``,
            ``depth/rmse``, ...), in the same units as the baselines.
        baselines (Mapping[str, float]): Single-task score per task, e.g.
            ``dict(semseg=53.20, depth=0.4923, normals=19.22)``.
    """
    if not baselines:
        raise ValueError("Delta_m needs at least one baseline")
    total = 0.0
    for task, baseline in check_baselines(baselines).items():
        key, lower_is_better = delta_m_key(task)
        if key not in results:
            raise KeyError(f"Delta_m needs {key!r}, not among {sorted(results)}")
        gain = (results[key] - baseline) / baseline
        total += -gain if lower_is_better else gain
    return 100 * total / len(baselines)
