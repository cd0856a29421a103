"""The summary of the ablation study (``ablation_study.py``): the finished
runs' metrics, Delta_m against the single-task variants, the chance scores,
the markdown table and the bar plot."""

import argparse
import json
import logging
import os.path as osp
import textwrap
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib
import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.structures import PixelData
from mmseg.registry import DATASETS

from mtcp.evaluation.metrics import MultiTaskMetric
from mtcp.evaluation.metrics.delta_m import delta_m, delta_m_key

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TASKS = ("semseg", "depth", "normals")
# (metric key, column title, decimals)
COLUMNS = (
    ("semseg/mIoU", "semseg mIoU ↑", 2),
    ("depth/rmse", "depth RMSE (m) ↓", 3),
    ("depth/delta1", "depth δ1 ↑", 3),
    ("normals/mean", "normals mErr (°) ↓", 2),
)
CHANCE = "chance: majority class, mean depth, mean normal"


def collect(args: argparse.Namespace) -> Tuple[Dict[str, List[dict]], List[str]]:
    """``variant -> [metrics of each finished seed]`` (variants without a
    finished run left out) and the work dirs of the unfinished runs."""
    results, missing = {}, []
    for variant in args.variants:
        runs = []
        for seed in args.seeds:
            run_dir = osp.join(args.work_dir, variant, f"seed{seed}")
            if not osp.exists(osp.join(run_dir, "metrics.json")):
                missing.append(run_dir)
                continue
            with open(osp.join(run_dir, "metrics.json")) as f:
                runs.append(dict(json.load(f), seed=seed))
        if runs:
            results[variant] = runs
    if not results:
        raise FileNotFoundError(f"no finished run (metrics.json) in {args.work_dir}")
    return results, missing


def add_delta_m(results: Dict[str, List[dict]]) -> Optional[Dict[str, float]]:
    """Add ``delta_m`` to every multi-task run: against the mean over seeds of
    each single-task variant. Returns the baselines (None without all three
    single-task variants)."""
    if not all(f"st_{t}" in results for t in TASKS):
        return None
    baselines = {}
    for task in TASKS:
        key = delta_m_key(task)[0]
        baselines[task] = float(np.mean([r[key] for r in results[f"st_{task}"]]))
    for variant, runs in results.items():
        if not variant.startswith("st_"):
            for run in runs:
                run["delta_m"] = delta_m(run, baselines)
    return baselines


def chance_scores(cfg: Config) -> Dict[str, float]:
    """Scores on the validation scenes of predicting the training scenes'
    majority class, mean depth and mean normal everywhere."""
    train = DATASETS.build(
        dict(cfg.train_dataloader.dataset, pipeline=[dict(type="PackMultiTaskInputs")])
    )
    val = DATASETS.build(cfg.val_dataloader.dataset)
    counts = torch.zeros(len(train.metainfo["classes"]), dtype=torch.long)
    depth_sum, depth_count, normal_sum = 0.0, 0, torch.zeros(3, dtype=torch.float64)
    for index in range(len(train)):
        sample = train[index]["data_samples"]
        labels = sample.gt_sem_seg.data.flatten()
        counts += torch.bincount(labels[labels != 255], minlength=len(counts))
        depth = sample.gt_depth.data
        depth_sum += depth[depth > 0].double().sum().item()
        depth_count += int((depth > 0).sum())
        normal_sum += sample.gt_normals.data.flatten(1).double().sum(1)
    normal = (normal_sum / normal_sum.norm()).float()
    metric = MultiTaskMetric(tasks=list(TASKS))
    metric.dataset_meta = val.metainfo
    for index in range(len(val)):
        sample = val[index]["data_samples"]
        h, w = sample.ori_shape
        sample.pred_sem_seg = PixelData(data=torch.full((1, h, w), counts.argmax()))
        sample.pred_depth = PixelData(
            data=torch.full((1, h, w), depth_sum / depth_count)
        )
        sample.pred_normals = PixelData(data=normal.view(3, 1, 1).expand(3, h, w))
        metric.process({}, [sample.to_dict()])
    # the metric logs a table per task; only the table of the study is wanted
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return metric.evaluate(len(val))
    finally:
        logger.setLevel(level)


def mean_std(values: Sequence[float], decimals: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{decimals}f}"
    # sample standard deviation over the seeds
    return f"{np.mean(values):.{decimals}f} ± {np.std(values, ddof=1):.{decimals}f}"


def markdown_table(
    results: Dict[str, List[dict]], chance: Dict[str, float], labels: Dict[str, str]
) -> str:
    """One row per variant (``labels[variant]``), after the chance row."""
    head = ["variant", "seeds"] + [title for _, title, _ in COLUMNS]
    head += ["Δm (%) ↑", "min / run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cells = [CHANCE, "–"] + [f"{chance[k]:.{d}f}" for k, _, d in COLUMNS]
    lines.append("| " + " | ".join(cells + ["–", "–"]) + " |")
    for variant, runs in results.items():
        cells = [labels[variant], str(len(runs))]
        for key, _, decimals in COLUMNS + (("delta_m", "", 2),):
            values = [r[key] for r in runs if key in r]
            cells.append(mean_std(values, decimals) if values else "–")
        cells.append(f"{np.mean([r['seconds'] for r in runs]) / 60:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_delta_m(
    results: Dict[str, List[dict]], path: str, title: str, labels: Dict[str, str]
) -> None:
    """A bar of the mean Delta_m of each variant (``labels[variant]``)."""
    names = [v for v, runs in results.items() if "delta_m" in runs[0]]
    means = [np.mean([r["delta_m"] for r in results[v]]) for v in names]
    stds = [
        np.std([r["delta_m"] for r in results[v]], ddof=1)
        if len(results[v]) > 1
        else 0.0
        for v in names
    ]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
    ys = np.arange(len(names))[::-1]
    colors = ["tab:green" if m >= 0 else "tab:red" for m in means]
    ax.barh(ys, means, xerr=stds, color=colors, capsize=3)
    ax.set_yticks(ys, [labels[v] for v in names])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("Δm vs single-task (%), mean ± std over seeds")
    ax.set_title(textwrap.fill(title, 90), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
