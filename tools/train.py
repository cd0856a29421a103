"""Train a multi-task model from a config.

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume] [--amp]
        [--auto-scale-lr]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]

Multi-process training goes through ``tools/dist_train.sh`` (torchrun) or
``tools/slurm_train.sh``. On a machine without an accelerator the processes
talk over gloo (see :func:`~mtcp.engine.runner_setup.adapt_to_cpu_distributed`).

Exit status: 0 when training ends, 75 when a SIGTERM or SIGUSR1 stopped it
after writing a resumable checkpoint (``PreemptionHook``; continue with
``--resume``), 1 on an error.
"""

import argparse
import logging
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.device import get_device
from mmengine.logging import print_log

# Registers mtcp's modules even when a config has no ``custom_imports``.
import mtcp  # noqa: F401
from mtcp.engine import cpu_has_native_bf16, runner_setup
from mtcp.engine.config_checks import check_data_roots
from mtcp.engine.hooks import TrainingInterrupted
from mtcp.engine.run_checks import check_runner
from mtcp.utils import resolve_resume


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a multi-task model")
    parser.add_argument("config", help="train config file path")
    parser.add_argument(
        "--work-dir",
        help="the dir to save logs and models (default: ./work_dirs/<config name>)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        default=False,
        help="resume from the latest checkpoint in the work_dir automatically",
    )
    parser.add_argument(
        "--amp",
        action="store_true",
        default=False,
        help="mixed precision: float16 autocast with loss scaling on a GPU, "
        "bfloat16 autocast on CPU",
    )
    parser.add_argument(
        "--auto-scale-lr",
        action="store_true",
        default=False,
        help="scale the learning rate linearly with the total batch size "
        "(GPUs x batch per GPU) against the config's auto_scale_lr.base_batch_size",
    )
    return runner_setup.parse_with_runner_args(parser, argv)


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision.

    On a GPU (or NPU/MLU/MUSA): mmengine's ``AmpOptimWrapper``, float16
    autocast with a dynamic loss scale. On CPU:
    :class:`~mtcp.engine.CPUAutocastOptimWrapper`, bfloat16 autocast (no
    loss scaling needed), refused on CPUs without AVX-512 BF16 or AMX, whose
    emulated bfloat16 matmuls are far slower than float32.
    """
    wrapper_type = cfg.optim_wrapper.get("type", "OptimWrapper")
    if wrapper_type in ("AmpOptimWrapper", "CPUAutocastOptimWrapper"):
        print_log(
            "AMP training is already enabled in your config.",
            logger="current",
            level=logging.WARNING,
        )
        return
    if wrapper_type != "OptimWrapper":
        raise ValueError(
            "--amp is only supported when optim_wrapper.type is 'OptimWrapper', "
            f"got {wrapper_type!r}"
        )
    if get_device() == "cpu":
        if not cpu_has_native_bf16():
            raise RuntimeError(
                "--amp on CPU is bfloat16 autocast, which needs a CPU with "
                "AVX-512 BF16 or AMX; this one has neither, and its emulated "
                "bfloat16 matmuls are far slower than float32. Drop --amp to "
                "train in float32 (to force it anyway: --cfg-options "
                "optim_wrapper.type=CPUAutocastOptimWrapper)."
            )
        cfg.optim_wrapper.type = "CPUAutocastOptimWrapper"
        cfg.optim_wrapper.dtype = "bfloat16"
        return
    cfg.optim_wrapper.type = "AmpOptimWrapper"
    cfg.optim_wrapper.loss_scale = "dynamic"


def enable_auto_scale_lr(cfg: Config, config_path: str) -> None:
    """Turn on mmengine's linear learning-rate scaling (``auto_scale_lr``).

    The Runner multiplies every learning rate by
    ``world_size * train_dataloader.batch_size / base_batch_size`` before
    training; the config must say which total batch its rate was tuned for.
    """
    auto_scale_lr = cfg.get("auto_scale_lr")
    if not auto_scale_lr or "base_batch_size" not in auto_scale_lr:
        raise ValueError(
            f"{config_path}: --auto-scale-lr needs auto_scale_lr = "
            "dict(enable=False, base_batch_size=N) in the config (N: the total "
            "batch size its learning rate was tuned for)"
        )
    cfg.auto_scale_lr.enable = True


def build_train_config(args: argparse.Namespace) -> Config:
    """The config a training run uses, with every command-line option applied."""
    cfg = runner_setup.load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    runner_setup.set_work_dir(cfg, args.config, args.work_dir)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg, args.config)
    cfg.resume = args.resume
    resolve_resume(cfg)
    loaders = ["train_dataloader"]
    if cfg.get("val_cfg") is not None:
        loaders.append("val_dataloader")
    check_data_roots(cfg, loaders, args.config)
    runner_setup.adapt_to_cpu_distributed(cfg, args.launcher)
    return cfg


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    runner = runner_setup.build_runner(build_train_config(args), args.launcher)
    check_runner(runner, "train")
    try:
        runner.train()
    except TrainingInterrupted:
        # a pre-emption signal: the checkpoint is written, exit status 75
        runner_setup.close_process_group()
        raise
    except Exception:
        runner_setup.report_failure(runner.work_dir)
        raise
    runner_setup.close_process_group()


if __name__ == "__main__":
    main()
