"""Plot a run's per-task curves: task weights, losses and validation metrics.

Reads ``<work_dir>/<timestamp>/vis_data/scalars.json`` (mmengine's
``LocalVisBackend``) and draws into a PNG the rows of ``--panels``:
``weights`` (``weight/<task>`` of ``TaskWeightingHook``, each period: the
paper's Fig. 6; without the hook the log variable ``weight.<task>``),
``losses`` (``period_loss/<task>``, else ``<task>.loss``) and ``metrics``
(one panel per task of its validation metrics, by default its Delta_m
metric, against the epoch or, for iteration-based runs, the iteration).
docs/tools.md tells more.

Example::

    python tools/analysis_tools/analyze_logs.py work_dirs/mtcp_demo \
        --out curves.png --metrics semseg/mIoU semseg/aAcc depth/rmse normals/mean
"""

import argparse
import glob
import json
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

from mtcp.evaluation.metrics.delta_m import delta_m_key
from mtcp.tasks import TASKS, task_kind

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

Series = Dict[str, List[Tuple[int, float]]]
PANELS = ("weights", "losses", "metrics")
PATTERNS = dict(
    period_weight=r"weight/(\w+)",
    period_loss=r"period_loss/(\w+)",
    iter_weight=r"weight\.(\w+)",
    iter_loss=r"(\w+)\.loss",
    metric=r"(\w+/[\w.]+)",
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("scalars", help="a scalars.json, or a work dir (its newest run's)")
    add("--out", default="curves.png", help="output PNG")
    add("--panels", nargs="+", choices=PANELS, default=PANELS)
    add("--tasks", nargs="+", help="default: every task logged")
    add("--metrics", nargs="+", help="<task>/<metric> keys (default: Delta_m's)")
    add("--size", nargs=2, type=float, metavar=("W", "H"), help="inches")
    add("--dpi", type=int, default=100)
    add("--title")
    return parser.parse_args(argv)


def find_scalars_file(path: str) -> str:
    """``path`` if it is a file, else the newest scalars.json under it."""
    pattern = osp.join(path, "**", "vis_data", "scalars.json")
    found = [path] if osp.isfile(path) else glob.glob(pattern, recursive=True)
    if not found:
        raise FileNotFoundError(
            f"No scalars.json file or <timestamp>/vis_data/scalars.json under "
            f"{path!r}; was the run logged with a LocalVisBackend?"
        )
    return sorted(found)[-1]  # timestamped run dirs sort by time


def load_scalars(path: str) -> Tuple[Dict[str, Series], bool]:
    """Read a scalars.json log.

    Returns:
        tuple: ``(series, by_epoch)``: ``series[kind][name]`` is
        ``[(step, value), ...]`` sorted by step for every kind of
        :data:`PATTERNS` (a later record of the same step, as a resumed run
        writes, replaces the earlier); ``by_epoch`` is whether the training
        records carry an epoch (then a validation's step is its epoch).
    """
    records = defaultdict(lambda: defaultdict(dict))
    # unreadable lines (a run killed while writing) are skipped and reported
    skipped, by_epoch = [], False
    with open(path) as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                step = int(record["step"])
            except (ValueError, TypeError, KeyError):
                skipped += [number] if line.strip() else []
                continue
            by_epoch |= "epoch" in record and "loss" in record
            for key, value in record.items():
                key = re.sub(r"^(train|val)/", "", key)  # log_with_hierarchy
                for kind, pattern in PATTERNS.items():
                    match = re.fullmatch(pattern, key)
                    if match and isinstance(value, (int, float)):
                        records[kind][match.group(1)][step] = float(value)
                        break
    if skipped:
        print(f"Skipped {len(skipped)} unreadable line(s) of {path}: {skipped[:10]}")
    series = {
        kind: {name: sorted(values.items()) for name, values in records[kind].items()}
        for kind in PATTERNS
    }
    return series, by_epoch


def draw(args: argparse.Namespace, path: str) -> List[str]:
    """Draw the panels of ``args`` from the log at ``path``; returns the tasks."""
    series, by_epoch = load_scalars(path)
    # the hook's period records when the log has them, else the log variables
    source = "period" if series["period_weight"] else "iter"
    weights, losses = series[f"{source}_weight"], series[f"{source}_loss"]
    if not weights:
        raise ValueError(
            f"{path} has no 'weight/<task>' (TaskWeightingHook) or 'weight.<task>' "
            "(model log variables) scalars; was the model trained with a weighting?"
        )
    tasks = args.tasks or list(weights)
    unknown = [task for task in tasks if task not in weights]
    missing = [key for key in args.metrics or [] if key not in series["metric"]]
    if unknown or missing:
        raise ValueError(
            f"--tasks {unknown} or --metrics {missing} are not in {path}; it has "
            f"the weights of {sorted(weights)}, metrics {sorted(series['metric'])}"
        )
    defaults = [delta_m_key(t)[0] for t in tasks if t in TASKS and task_kind(t).delta_m]
    keys = args.metrics or [key for key in defaults if key in series["metric"]]
    groups = list(dict.fromkeys(key.split("/")[0] for key in keys))
    rows = [p for p in PANELS if p in args.panels and (p != "metrics" or keys)]
    fig = plt.figure(figsize=args.size or (8.0, 3.0 * len(rows)), dpi=args.dpi)
    grid = fig.add_gridspec(len(rows), max(1, len(groups)))
    for row, panel in enumerate(rows):
        if panel == "metrics":
            for col, group in enumerate(groups):
                ax = fig.add_subplot(grid[row, col])
                for key in (k for k in keys if k.startswith(group + "/")):
                    ax.plot(*zip(*series["metric"][key]), marker="o", label=key)
                ax.set_xlabel("epoch" if by_epoch else "iteration")
                ax.grid(alpha=0.3)
                ax.legend(loc="best", fontsize="small")
            continue
        ax = fig.add_subplot(grid[row, :])
        curves = weights if panel == "weights" else losses
        for task in (t for t in tasks if t in curves):
            marker = "o" if source == "period" else None
            ax.plot(*zip(*curves[task]), marker=marker, label=task)
        ylabel = dict(period="period mean loss", iter="head loss (smoothed)")[source]
        ax.set_ylabel("task weight" if panel == "weights" else ylabel)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=args.dpi)
    plt.close(fig)
    return tasks


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    path = find_scalars_file(args.scalars)
    tasks = draw(args, path)
    print(f"Drew {' '.join(args.panels)} of {tasks} from {path} to {args.out}")


if __name__ == "__main__":
    main()
