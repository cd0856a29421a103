"""Test (evaluate) a multi-task model checkpoint.

Usage::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR]
        [--show] [--show-dir DIR] [--wait-time SECONDS] [--tta]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
"""

import argparse
import math
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.hooks import LoggerHook

from mtcp.apis import check_tta_config
from mtcp.engine.config_checks import check_data_roots
from mtcp.engine.run_checks import check_runner
from mtcp.engine.runner_setup import (
    adapt_to_cpu_distributed,
    build_runner,
    close_process_group,
    load_config,
    parse_with_runner_args,
    set_work_dir,
)
from mtcp.utils.strict_loading import check_checkpoint_fits

# About how many progress lines a test run logs.
PROGRESS_LINES = 10


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Test (and evaluate) a multi-task model"
    )
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument(
        "--work-dir",
        help="the directory to save the file containing evaluation metrics "
        "(default: ./work_dirs/<config name>)",
    )
    parser.add_argument(
        "--out",
        help="directory where the per-task predictions are saved; the metrics "
        "are computed as well",
    )
    parser.add_argument("--show", action="store_true", help="show the panels")
    parser.add_argument(
        "--show-dir",
        help="directory where one visualisation panel per test image is saved",
    )
    parser.add_argument(
        "--wait-time", type=float, default=2, help="the interval of show (s)"
    )
    parser.add_argument(
        "--tta",
        action="store_true",
        help="test-time augmentation: the config's tta_model merges the "
        "predictions of the views its tta_pipeline makes (e.g. the image and "
        "its mirror)",
    )
    return parse_with_runner_args(parser, argv)


def trigger_visualization_hook(
    cfg: Config, show: bool, show_dir: Optional[str], wait_time: float
) -> None:
    """Turn on drawing in the ``visualization`` default hook."""
    hook = cfg.get("default_hooks", {}).get("visualization")
    if hook is None:
        raise RuntimeError(
            "--show/--show-dir need a visualization hook in default_hooks, e.g. "
            "default_hooks = dict(visualization=dict("
            "type='MultiTaskVisualizationHook'))"
        )
    hook.draw = True
    if show:
        hook.show = True
        hook.wait_time = wait_time
    if show_dir is not None:
        hook.out_dir = show_dir


def enable_tta(cfg: Config, config_path: str) -> None:
    """Test through ``cfg.tta_model`` on the views of ``cfg.tta_pipeline``,
    as mmseg's test.py does."""
    check_tta_config(cfg, config_path)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def set_prediction_dir(cfg: Config, out_dir: str) -> None:
    """Make every ``MultiTaskMetric`` of the test evaluator save predictions.

    ``format_only`` stays as configured, so the metrics are still computed.
    """
    evaluator = cfg.get("test_evaluator")
    metrics = evaluator if isinstance(evaluator, list) else [evaluator]
    found = False
    for metric in metrics:
        if isinstance(metric, dict) and metric.get("type") == "MultiTaskMetric":
            metric.output_dir = out_dir
            found = True
    if not found:
        raise ValueError(
            "--out needs a MultiTaskMetric in test_evaluator, which saves the "
            f"predictions; got test_evaluator={evaluator}"
        )


def build_test_config(args: argparse.Namespace) -> Config:
    """The config a test run uses, with every command-line option applied."""
    cfg = load_config(args.config, args.cfg_options)
    if "://" not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f"Checkpoint file not found: {args.checkpoint}")
    cfg.load_from = args.checkpoint
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args.show, args.show_dir, args.wait_time)
    if args.tta:
        enable_tta(cfg, args.config)
    if args.out is not None:
        set_prediction_dir(cfg, args.out)
    adapt_to_cpu_distributed(cfg, args.launcher)
    check_data_roots(cfg, ["test_dataloader"], args.config)
    return cfg


def show_progress(runner, lines: int = PROGRESS_LINES) -> None:
    """Log about ``lines`` progress lines (with the ETA) over the test set.

    mmengine's ``LoggerHook`` logs a test iteration every ``interval``
    iterations, the interval of the training log (20-50): a test set of
    fewer batches printed nothing until its metrics. The interval is lowered
    to ``ceil(batches / lines)`` when that is smaller.
    """
    num_batches = len(runner.test_dataloader)
    for hook in runner.hooks:
        if isinstance(hook, LoggerHook):
            hook.interval = max(1, min(hook.interval, math.ceil(num_batches / lines)))


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    runner = build_runner(build_test_config(args), args.launcher)
    check_runner(runner, "test")
    # the Runner's own loading skips weights that do not fit, leaving random
    # ones: refuse such a checkpoint before testing
    check_checkpoint_fits(runner.model, args.checkpoint)
    show_progress(runner)
    runner.test()
    close_process_group()


if __name__ == "__main__":
    main()
