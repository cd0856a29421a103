"""Plot per-task weights and losses over training (the paper's Fig. 6).

Reads the scalar log mmengine's ``LocalVisBackend`` writes
(``<work_dir>/<timestamp>/vis_data/scalars.json``, one JSON object per line)
and draws the task weights (top) and the per-task losses (bottom) against the
iteration into a PNG.

Two kinds of records are understood, with or without a ``train/`` prefix:

- ``weight/{task}`` and ``period_loss/{task}``: written by
  ``TaskWeightingHook`` at every period update (preferred);
- ``weight.{task}`` and ``{task}.loss``: the model's log variables, written
  by the ``LoggerHook`` every logging interval (used when the run has no
  period records, e.g. without the hook; the loss is the final head's raw
  loss, smoothed by the log processor).

Usage::

    python tools/analysis_tools/plot_task_weights.py \
        work_dirs/mtcp_nyud/20240101_120000/vis_data/scalars.json \
        --out task_weights.png

    # or a work dir: its newest run's scalars.json is used
    python tools/analysis_tools/plot_task_weights.py work_dirs/mtcp_nyud
"""

import argparse
import glob
import json
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

Series = Dict[str, List[Tuple[int, float]]]

PERIOD_WEIGHT = re.compile(r"^(?:train/)?weight/(\w+)$")
PERIOD_LOSS = re.compile(r"^(?:train/)?period_loss/(\w+)$")
ITER_WEIGHT = re.compile(r"^(?:train/)?weight\.(\w+)$")
ITER_LOSS = re.compile(r"^(?:train/)?(\w+)\.loss$")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Plot per-task weights and losses from a scalars.json log"
    )
    parser.add_argument(
        "scalars",
        help="a vis_data/scalars.json file, or a work dir (its newest "
        "<timestamp>/vis_data/scalars.json is used)",
    )
    parser.add_argument(
        "--out", default="task_weights.png", help="output PNG (default: %(default)s)"
    )
    parser.add_argument(
        "--tasks", nargs="+", help="tasks to draw (default: every task in the log)"
    )
    parser.add_argument(
        "--size",
        nargs=2,
        type=float,
        default=(8.0, 6.0),
        metavar=("WIDTH", "HEIGHT"),
        help="figure size in inches (default: 8 6)",
    )
    parser.add_argument("--dpi", type=int, default=100, help="PNG resolution")
    parser.add_argument("--title", default=None, help="figure title")
    return parser.parse_args(argv)


def find_scalars_file(path: str) -> str:
    """Return ``path`` if it is a file, else the newest scalars.json under it."""
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f"No scalars.json file or work dir at {path!r}")
    candidates = glob.glob(osp.join(path, "*", "vis_data", "scalars.json"))
    candidates += glob.glob(osp.join(path, "vis_data", "scalars.json"))
    if not candidates:
        raise FileNotFoundError(
            f"No <timestamp>/vis_data/scalars.json under {path!r}; was the run "
            "logged with a LocalVisBackend?"
        )
    # Timestamped run dirs sort chronologically.
    return sorted(candidates)[-1]


def load_task_scalars(path: str) -> Tuple[Series, Series, str]:
    """Read the per-task weights and losses of a scalars.json log.

    Args:
        path (str): The scalars.json file.

    Returns:
        tuple: ``(weights, losses, source)``: each series maps a task to
        ``[(step, value), ...]`` sorted by step; ``source`` is ``'period'``
        (TaskWeightingHook records) or ``'iter'`` (log variables).
    """
    records = defaultdict(lambda: defaultdict(dict))
    skipped = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                skipped.append(number)
                continue
            if not isinstance(record, dict) or "step" not in record:
                skipped.append(number)
                continue
            step = int(record["step"])
            for key, value in record.items():
                if not isinstance(value, (int, float)):
                    continue
                for kind, pattern in (
                    ("period_weight", PERIOD_WEIGHT),
                    ("period_loss", PERIOD_LOSS),
                    ("iter_weight", ITER_WEIGHT),
                    ("iter_loss", ITER_LOSS),
                ):
                    match = pattern.match(key)
                    if match:
                        # A later record of the same step (a resumed run
                        # writing the step again) replaces the earlier one.
                        records[kind][match.group(1)][step] = float(value)
    if skipped:
        print(f"Skipped {len(skipped)} unreadable line(s) of {path}: {skipped[:10]}")

    def series(kind: str) -> Series:
        return {task: sorted(values.items()) for task, values in records[kind].items()}

    if records["period_weight"]:
        return series("period_weight"), series("period_loss"), "period"
    if records["iter_weight"]:
        print(
            f"{path} has no TaskWeightingHook records (weight/<task>); plotting "
            "the per-iteration weight.<task> and <task>.loss log variables"
        )
        weights = series("iter_weight")
        losses = {t: v for t, v in series("iter_loss").items() if t in weights}
        return weights, losses, "iter"
    raise ValueError(
        f"{path} has no 'weight/<task>' (TaskWeightingHook) or 'weight.<task>' "
        "(model log variables) scalars; was the model trained with a task "
        "weighting?"
    )


def plot_task_weights(
    weights: Series,
    losses: Series,
    source: str,
    out: str,
    size: Tuple[float, float] = (8.0, 6.0),
    dpi: int = 100,
    title: Optional[str] = None,
) -> None:
    """Draw the weights (top) and losses (bottom) per task into ``out``."""
    fig, (ax_w, ax_l) = plt.subplots(2, 1, sharex=True, figsize=size, dpi=dpi)
    for task, points in weights.items():
        steps, values = zip(*points)
        ax_w.plot(steps, values, marker="o" if source == "period" else None, label=task)
    ax_w.set_ylabel("task weight")
    ax_w.legend(loc="best")
    ax_w.grid(alpha=0.3)
    for task, points in losses.items():
        steps, values = zip(*points)
        ax_l.plot(steps, values, marker="o" if source == "period" else None, label=task)
    ax_l.set_ylabel(
        "period mean loss" if source == "period" else "main head loss (smoothed)"
    )
    ax_l.set_xlabel("iteration")
    ax_l.grid(alpha=0.3)
    if losses:
        ax_l.legend(loc="best")
    if title:
        fig.suptitle(title)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    path = find_scalars_file(args.scalars)
    weights, losses, source = load_task_scalars(path)
    if args.tasks:
        unknown = [task for task in args.tasks if task not in weights]
        if unknown:
            raise ValueError(
                f"--tasks names {unknown}, which have no weights in {path}; "
                f"the log has {sorted(weights)}"
            )
        weights = {task: weights[task] for task in args.tasks}
        losses = {task: losses[task] for task in args.tasks if task in losses}
    plot_task_weights(
        weights, losses, source, args.out, tuple(args.size), args.dpi, args.title
    )
    print(
        f"Drew {'period' if source == 'period' else 'per-iteration'} weights of "
        f"{sorted(weights)} from {path} to {args.out}"
    )


if __name__ == "__main__":
    main()
