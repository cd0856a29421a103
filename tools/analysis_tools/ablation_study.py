"""The paper's ablations (Tab. 3 and 4) on the built-in synthetic scenes.

Trains the tiny MT-CP of a config (default ``configs/mtcp_demo.py``: synthetic
NYUD-like rooms, semseg + depth + normals) in every variant of
:data:`VARIANTS` with several seeds, validates each run once at its end, and
writes a markdown table (mean +- std over the seeds of every task metric and
of Delta_m against the single-task variants) and a bar plot of Delta_m.

Every run has its own work dir ``<work-dir>/<variant>/seed<k>`` and runs in
its own process (one torch thread; ``--jobs`` at a time). A run is finished
when its ``metrics.json`` exists: a second invocation skips finished runs
and resumes an interrupted one from its last epoch checkpoint, so the study
can be stopped and restarted at any time. ``--summarize-only`` rebuilds the
table and the plot from the finished runs.

Usage::

    python tools/analysis_tools/ablation_study.py            # < 1 h, 2 cores
    python tools/analysis_tools/ablation_study.py --quick    # smoke test
    python tools/analysis_tools/ablation_study.py --variants mtcp wo_cfm \\
        --seeds 0 1 2 3 4 --work-dir work_dirs/my_study
"""

import argparse
import json
import math
import os
import os.path as osp
import platform
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mtcp  # noqa: F401  registers mtcp's modules

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation_report import (  # noqa: E402
    CHANCE,
    COLUMNS,
    TASKS,
    add_delta_m,
    chance_scores,
    collect,
    markdown_table,
    plot_delta_m,
)

REPO = osp.abspath(osp.join(osp.dirname(__file__), "..", ".."))
# Re-exported: the tests read the table's layout from here.
__all__ = ["CHANCE", "COLUMNS", "TASKS", "VARIANTS", "main"]

# name -> (table label, dotted config overrides). Single-task variants are
# added below; ``mtcp`` is the full model with LPS, the others change one
# thing of it.
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
    VARIANTS[f"st_{_task}"] = (
        f"single-task {_task}",
        {
            "model.tasks": [_task],
            "model.weighting.mode": "equal",
            "custom_hooks": [],
            "train_dataloader.dataset.tasks": [_task],
            "val_dataloader.dataset.tasks": [_task],
            "test_dataloader.dataset.tasks": [_task],
            "val_evaluator.tasks": [_task],
            "test_evaluator.tasks": [_task],
        },
    )
FULL = dict(num_samples=None, val_samples=None, epochs=None, seeds=[0, 1, 2])
QUICK = dict(num_samples=64, val_samples=16, epochs=2, seeds=[0])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=osp.join(REPO, "configs", "mtcp_demo.py"))
    parser.add_argument("--work-dir", default="work_dirs/ablation_study")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke version: seed 0, 64 training scenes, 16 validation scenes, "
        "2 epochs",
    )
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument("--num-samples", type=int, help="training scenes")
    parser.add_argument("--val-samples", type=int, help="validation scenes")
    parser.add_argument("--epochs", type=int)
    parser.add_argument(
        "--jobs", type=int, default=2, help="runs at a time (default: %(default)s)"
    )
    parser.add_argument(
        "--summarize-only",
        action="store_true",
        help="only rebuild the table and the plot from the finished runs",
    )
    parser.add_argument("--run-one", metavar="RUN_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.variants = args.variants or list(VARIANTS)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    return args


def run_config(args: argparse.Namespace, variant: str, seed: int) -> Config:
    """The config of one run: the base config, the study's sizes, the
    variant's overrides, the seed, validation once at the end."""
    cfg = Config.fromfile(args.config)
    options = dict(VARIANTS[variant][1])
    options["randomness.seed"] = seed
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
    # validated by the run itself after training (see run_one)
    cfg.train_cfg.val_begin = cfg.train_cfg.max_epochs + 1
    # the last epoch's checkpoint only, for resuming an interrupted run
    cfg.default_hooks.checkpoint = dict(
        type="CheckpointHook", by_epoch=True, interval=1, max_keep_ckpts=1
    )
    return cfg


def run_one(run_dir: str) -> None:
    """Train and validate the run of ``run_dir/config.py``; write
    ``run_dir/metrics.json``. Resumes from the run's last checkpoint."""
    cfg = Config.fromfile(osp.join(run_dir, "config.py"))
    cfg.work_dir = run_dir
    cfg.resume = osp.exists(osp.join(run_dir, "last_checkpoint"))
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = {k: float(v) for k, v in runner.val().items()}
    metrics["seconds"] = time.time() - start
    metrics["iterations"] = runner.iter
    with open(osp.join(run_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)


def launch(run_dir: str) -> str:
    """Run one training in a fresh process; its output goes to run.log."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    with open(osp.join(run_dir, "run.log"), "a") as log:
        proc = subprocess.run(
            [sys.executable, osp.abspath(__file__), "--run-one", run_dir],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if proc.returncode != 0:
        raise RuntimeError(
            f"run {run_dir} failed (exit {proc.returncode}); see "
            f"{osp.join(run_dir, 'run.log')}"
        )
    return run_dir


def run_all(args: argparse.Namespace) -> List[float]:
    """Start every unfinished run, ``args.jobs`` at a time, seed by seed.
    Returns the 1-minute load averages sampled every 30 s meanwhile."""
    pending = []
    # seed by seed, so that an unfinished study has whole seeds to summarize
    for seed in args.seeds:
        for variant in sorted(args.variants, key=lambda v: v.startswith("st_")):
            run_dir = osp.join(args.work_dir, variant, f"seed{seed}")
            if osp.exists(osp.join(run_dir, "metrics.json")):
                continue
            os.makedirs(run_dir, exist_ok=True)
            run_config(args, variant, seed).dump(osp.join(run_dir, "config.py"))
            pending.append(run_dir)
    print(f"{len(pending)} runs to do in {args.work_dir}", flush=True)
    loads = [os.getloadavg()[0]]
    with ThreadPoolExecutor(args.jobs) as pool:
        running = {pool.submit(launch, run_dir) for run_dir in pending}
        while running:
            done, running = wait(running, timeout=30, return_when=FIRST_COMPLETED)
            loads.append(os.getloadavg()[0])
            for future in done:
                print(f"finished {future.result()}", flush=True)
    return loads


def summarize(args: argparse.Namespace) -> str:
    """Write ``ablation_table.md``, ``ablation_delta_m.png`` and
    ``summary.json`` into the work dir from the finished runs (the unfinished
    ones are listed under the table); return the markdown."""
    results, missing = collect(args)
    for runs in results.values():
        for run in runs:
            bad = [k for k, v in run.items() if not math.isfinite(v)]
            if bad:
                raise ValueError(f"run seed{run['seed']} has non-finite {bad}")
    baselines = add_delta_m(results)
    cfg = run_config(args, "mtcp", args.seeds[0])
    train = cfg.train_dataloader
    iters = max(r["iterations"] for runs in results.values() for r in runs)
    settings = (
        f"{osp.relpath(args.config, REPO)}: {train.dataset.num_samples} training "
        f"scenes ({train.batch_size} a batch, {cfg.train_cfg.max_epochs} epochs, "
        f"{iters} iterations), {cfg.val_dataloader.dataset.num_samples} "
        f"validation scenes, seeds {' '.join(map(str, args.seeds))}"
    )
    labels = {variant: label for variant, (label, _) in VARIANTS.items()}
    table = markdown_table(results, chance_scores(cfg), labels)
    notes = [f"Settings: {settings}.", "Mean ± sample std over the seeds."]
    if baselines:
        notes.append(
            "Δm against the single-task means: "
            + ", ".join(f"{t} {v:.4g}" for t, v in baselines.items())
            + "."
        )
    if missing:
        notes.append(f"Unfinished runs, not in the table: {', '.join(missing)}.")
    text = table + "\n\n" + "\n".join(notes) + "\n"
    with open(osp.join(args.work_dir, "ablation_table.md"), "w") as f:
        f.write(text)
    with open(osp.join(args.work_dir, "summary.json"), "w") as f:
        json.dump(dict(settings=settings, baselines=baselines, runs=results), f)
    if baselines:
        png = osp.join(args.work_dir, "ablation_delta_m.png")
        plot_delta_m(results, png, f"{len(args.seeds)} seed(s); {settings}", labels)
    return text


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.run_one:
        run_one(args.run_one)
        return
    init_default_scope("mmseg")
    os.makedirs(args.work_dir, exist_ok=True)
    start = datetime.now(timezone.utc)
    if not args.summarize_only:
        loads = run_all(args)
        # one line per invocation (a resumed study has several)
        with open(osp.join(args.work_dir, "machine.txt"), "a") as f:
            f.write(
                f"{start:%Y-%m-%d %H:%M} to {datetime.now(timezone.utc):%H:%M} UTC, "
                f"{platform.node()}, {os.cpu_count()} cores, {args.jobs} jobs, "
                f"1-min load average mean {np.mean(loads):.1f} "
                f"(max {max(loads):.1f})\n"
            )
    print(summarize(args))


if __name__ == "__main__":
    main()
