"""The paper's ablations (Tab. 3 and 4) on the built-in synthetic scenes.

Trains the tiny MT-CP of a config (default ``configs/mtcp_demo.py``) in every
variant of :data:`VARIANTS` with several seeds, each run in its own process
and work dir ``<work-dir>/<variant>/seed<k>``, validated once at its end,
``--jobs`` at a time. A run is finished when its ``metrics.json`` exists: a
second invocation skips the finished runs and resumes an interrupted one
from its last checkpoint. Then writes ``ablation_table.md`` (mean +- std
over the seeds of each metric and of Delta_m against the single-task
variants, after the chance scores), ``ablation_delta_m.png`` and
``summary.json``; ``--summarize-only`` rewrites them. docs/tools.md tells more.

Example::

    python tools/analysis_tools/ablation_study.py --quick
"""

import argparse
import json
import logging
import os
import os.path as osp
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

import matplotlib
import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.registry import DATASETS

import mtcp  # noqa: F401  registers mtcp's modules
from mtcp.evaluation.metrics import MultiTaskMetric
from mtcp.evaluation.metrics.delta_m import delta_m, delta_m_key

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = osp.abspath(osp.join(osp.dirname(__file__), "..", ".."))
TASKS = ("semseg", "depth", "normals")
# (metric key, column title, decimals)
COLUMNS = (
    ("semseg/mIoU", "semseg mIoU ↑", 2),
    ("depth/rmse", "depth RMSE (m) ↓", 3),
    ("depth/delta1", "depth δ1 ↑", 3),
    ("normals/mean", "normals mErr (°) ↓", 2),
)
CHANCE = "chance: majority class, mean depth, mean normal"
# name -> (table label, config overrides); each changes one thing of `mtcp`
VARIANTS: Dict[str, tuple] = {
    "mtcp": ("MT-CP (CFM + SRM + LPS)", {}),
    "wo_cfm": ("w/o CFM", {"model.use_cfm": False}),
    "wo_srm": ("w/o SRM", {"model.use_srm": False}),
    "wo_cfm_srm": ("w/o CFM and SRM", {"model.use_cfm": False, "model.use_srm": False}),
    "lps_equal": ("LPS mode equal (plain sum)", {"model.weighting.mode": "equal"}),
    "lps_log": ("LPS mode log (projection only)", {"model.weighting.mode": "log"}),
    "lps_prioritize": (
        "LPS mode prioritize (no projection)",
        {"model.weighting.mode": "prioritize"},
    ),
    "cfm_kv2": ("CFM kv_downsample=2", {"model.cfm.kv_downsample": 2}),
}
for _task in TASKS:
    _keys = ["model", "train_dataloader.dataset", "val_dataloader.dataset"]
    _keys += ["test_dataloader.dataset", "val_evaluator", "test_evaluator"]
    VARIANTS[f"st_{_task}"] = (
        f"single-task {_task}",
        {
            **{f"{key}.tasks": [_task] for key in _keys},
            "model.weighting.mode": "equal",
            "custom_hooks": [],
        },
    )
FULL = dict(num_samples=None, val_samples=None, epochs=None, seeds=[0, 1, 2])
QUICK = dict(num_samples=64, val_samples=16, epochs=2, seeds=[0])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--config", default=osp.join(REPO, "configs", "mtcp_demo.py"))
    add("--work-dir", default="work_dirs/ablation_study")
    add("--quick", action="store_true", help="seed 0, 64/16 scenes, 2 epochs")
    add("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    add("--seeds", nargs="+", type=int)
    add("--num-samples", type=int, help="training scenes")
    add("--val-samples", type=int, help="validation scenes")
    add("--epochs", type=int)
    add("--jobs", type=int, default=2, help="runs at a time")
    add("--summarize-only", action="store_true")
    add("--run-one", metavar="RUN_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    return args


def run_config(args: argparse.Namespace, variant: str, seed: int) -> Config:
    """The base config with the study's sizes, the variant, the seed, the
    validation once after training and only the last epoch's checkpoint."""
    cfg = Config.fromfile(args.config)
    options = dict(VARIANTS[variant][1], **{"randomness.seed": seed})
    if args.num_samples is not None:
        options["train_dataloader.dataset.num_samples"] = args.num_samples
    if args.val_samples is not None:
        options["val_dataloader.dataset.num_samples"] = args.val_samples
    if args.epochs is not None:
        options["train_cfg.max_epochs"] = args.epochs
        for index, scheduler in enumerate(cfg.param_scheduler):
            if scheduler.get("end") == cfg.train_cfg.max_epochs:
                options[f"param_scheduler.{index}.end"] = args.epochs
    cfg.merge_from_dict(options)
    cfg.train_cfg.val_begin = cfg.train_cfg.max_epochs + 1  # see run_one
    cfg.default_hooks.checkpoint = dict(
        type="CheckpointHook", by_epoch=True, interval=1, max_keep_ckpts=1
    )
    return cfg


def run_one(run_dir: str) -> None:
    """Train (resuming from the run's last checkpoint) and validate the run
    of ``run_dir/config.py``; write ``run_dir/metrics.json``."""
    cfg = Config.fromfile(osp.join(run_dir, "config.py"))
    cfg.work_dir = run_dir
    cfg.resume = osp.exists(osp.join(run_dir, "last_checkpoint"))
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = {k: float(v) for k, v in runner.val().items()}
    metrics.update(seconds=time.time() - start, iterations=runner.iter)
    with open(osp.join(run_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)


def launch(run_dir: str) -> None:
    """One run in a fresh process with one torch thread; output in run.log."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    with open(osp.join(run_dir, "run.log"), "a") as log:
        cmd = [sys.executable, osp.abspath(__file__), "--run-one", run_dir]
        code = subprocess.run(cmd, env=env, stdout=log, stderr=log).returncode
    if code != 0:
        raise RuntimeError(f"run {run_dir} failed (exit {code}); see its run.log")
    print(f"finished {run_dir}", flush=True)


def run_all(args: argparse.Namespace) -> None:
    """Start every unfinished run, ``args.jobs`` at a time, seed by seed (an
    unfinished study has whole seeds to summarize)."""
    pending = []
    for seed in args.seeds:
        for variant in sorted(args.variants, key=lambda v: v.startswith("st_")):
            run_dir = osp.join(args.work_dir, variant, f"seed{seed}")
            if not osp.exists(osp.join(run_dir, "metrics.json")):
                os.makedirs(run_dir, exist_ok=True)
                run_config(args, variant, seed).dump(osp.join(run_dir, "config.py"))
                pending.append(run_dir)
    print(f"{len(pending)} runs to do in {args.work_dir}", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(launch, pending))


def collect(args: argparse.Namespace) -> tuple:
    """``variant -> [metrics of each finished seed]`` and the unfinished runs."""
    results, missing = {}, []
    for variant in args.variants:
        for seed in args.seeds:
            path = osp.join(args.work_dir, variant, f"seed{seed}", "metrics.json")
            if not osp.exists(path):
                missing.append(osp.dirname(path))
                continue
            with open(path) as f:
                run = dict(json.load(f), seed=seed)
            if not all(np.isfinite(v) for v in run.values()):
                raise ValueError(f"{path} has a non-finite metric: {run}")
            results.setdefault(variant, []).append(run)
    if not results:
        raise FileNotFoundError(f"no finished run (metrics.json) in {args.work_dir}")
    return results, missing


def add_delta_m(results: Dict[str, List[dict]]) -> Optional[Dict[str, float]]:
    """Add ``delta_m`` to every multi-task run, against the mean over the
    seeds of each single-task variant; returns those means (None without all
    three single-task variants)."""
    if not all(f"st_{t}" in results for t in TASKS):
        return None
    baselines = {}
    for task in TASKS:
        key = delta_m_key(task)[0]
        baselines[task] = float(np.mean([r[key] for r in results[f"st_{task}"]]))
    for variant, runs in results.items():
        for run in runs if not variant.startswith("st_") else []:
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
        shape = (1, *sample.ori_shape)
        sample.pred_sem_seg = PixelData(data=torch.full(shape, counts.argmax()))
        sample.pred_depth = PixelData(data=torch.full(shape, depth_sum / depth_count))
        sample.pred_normals = PixelData(data=normal.view(3, 1, 1).expand(3, *shape[1:]))
        metric.process({}, [sample.to_dict()])
    # the metric logs a table per task; only the study's table is wanted
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return metric.evaluate(len(val))
    finally:
        logger.setLevel(level)


def markdown_table(results: Dict[str, List[dict]], chance: Dict[str, float]) -> str:
    """One row per variant after the chance row: mean ± sample std."""

    def cell(values: List[float], decimals: int) -> str:
        if len(values) < 2:
            return f"{values[0]:.{decimals}f}" if values else "–"
        std = np.std(values, ddof=1)
        return f"{np.mean(values):.{decimals}f} ± {std:.{decimals}f}"

    head = ["variant", "seeds", *(t for _, t, _ in COLUMNS), "Δm (%) ↑", "min / run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cells = [CHANCE, "–", *(f"{chance[k]:.{d}f}" for k, _, d in COLUMNS), "–", "–"]
    lines.append("| " + " | ".join(cells) + " |")
    for variant, runs in results.items():
        cells = [VARIANTS[variant][0], str(len(runs))]
        for key, _, decimals in COLUMNS + (("delta_m", "", 2),):
            cells.append(cell([r[key] for r in runs if key in r], decimals))
        cells.append(f"{np.mean([r['seconds'] for r in runs]) / 60:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_delta_m(results: Dict[str, List[dict]], path: str, title: str) -> None:
    """A bar of the mean Delta_m (± std) of each multi-task variant."""
    names = [v for v, runs in results.items() if "delta_m" in runs[0]]
    values = [[r["delta_m"] for r in results[v]] for v in names]
    means = [np.mean(v) for v in values]
    stds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
    ys = np.arange(len(names))[::-1]
    colors = ["tab:green" if m >= 0 else "tab:red" for m in means]
    ax.barh(ys, means, xerr=stds, color=colors, capsize=3)
    ax.set_yticks(ys, [VARIANTS[v][0] for v in names])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("Δm vs single-task (%), mean ± std over seeds")
    ax.set_title(textwrap.fill(title, 90), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summarize(args: argparse.Namespace) -> str:
    """Write the table, the plot and summary.json from the finished runs
    (the unfinished ones listed under the table); return the table."""
    results, missing = collect(args)
    baselines = add_delta_m(results)
    cfg = run_config(args, "mtcp", args.seeds[0])
    iters = max(r["iterations"] for runs in results.values() for r in runs)
    settings = (
        f"{osp.relpath(args.config, REPO)}: {cfg.train_dataloader.dataset.num_samples}"
        f" training scenes ({cfg.train_dataloader.batch_size} a batch, "
        f"{cfg.train_cfg.max_epochs} epochs, {iters} iterations), "
        f"{cfg.val_dataloader.dataset.num_samples} validation scenes, seeds "
        + " ".join(map(str, args.seeds))
    )
    notes = [f"Settings: {settings}.", "Mean ± sample std over the seeds."]
    if baselines:
        means = ", ".join(f"{t} {v:.4g}" for t, v in baselines.items())
        notes.append(f"Δm against the single-task means: {means}.")
    if missing:
        notes.append(f"Unfinished runs, not in the table: {', '.join(missing)}.")
    text = markdown_table(results, chance_scores(cfg)) + "\n\n" + "\n".join(notes)
    with open(osp.join(args.work_dir, "ablation_table.md"), "w") as f:
        f.write(text + "\n")
    with open(osp.join(args.work_dir, "summary.json"), "w") as f:
        json.dump(dict(settings=settings, baselines=baselines, runs=results), f)
    if baselines:
        png = osp.join(args.work_dir, "ablation_delta_m.png")
        plot_delta_m(results, png, f"{len(args.seeds)} seed(s); {settings}")
    return text


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.run_one:
        run_one(args.run_one)
        return
    init_default_scope("mmseg")
    os.makedirs(args.work_dir, exist_ok=True)
    if not args.summarize_only:
        run_all(args)
    print(summarize(args))


if __name__ == "__main__":
    main()
