"""Train a multi-task model from a config.

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume] [--amp]
        [--auto-scale-lr]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]

Multi-process training goes through ``tools/dist_train.sh`` (torchrun) or
``tools/slurm_train.sh``. On a machine without an accelerator the processes
talk over gloo (see :func:`adapt_to_cpu_distributed`).
"""

import argparse
import logging
import os
import os.path as osp
from typing import Optional, Sequence

import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

# Registers mtcp's modules even when a config has no ``custom_imports``.
import mtcp  # noqa: F401
from mtcp.engine.run_checks import check_runner
from mtcp.utils import resolve_resume

LAUNCHERS = ("none", "pytorch", "slurm", "mpi")


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction``, naming an item that is not ``KEY=VALUE``
    (mmengine fails on it with a bare unpacking error)."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values:
            key, sep, _ = item.partition("=")
            if not sep or not key:
                parser.error(
                    f"{option_string}: {item!r} is not KEY=VALUE (e.g. "
                    "train_cfg.max_epochs=10 or model.tasks=\"['semseg','depth']\")"
                )
        super().__call__(parser, namespace, values, option_string)


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
        help="enable automatic-mixed-precision training (needs a GPU)",
    )
    parser.add_argument(
        "--auto-scale-lr",
        action="store_true",
        default=False,
        help="scale the learning rate linearly with the total batch size "
        "(GPUs x batch per GPU) against the config's auto_scale_lr.base_batch_size",
    )
    return parse_with_runner_args(parser, argv)


def parse_with_runner_args(
    parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None
) -> argparse.Namespace:
    """Add the options train.py and test.py share (``--cfg-options``,
    ``--launcher``, ``--local_rank``) to ``parser`` and parse ``argv``."""
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=CfgOptionsAction,
        help="override some settings in the used config, the key-value pair "
        "in xxx=yyy format will be merged into config file. If the value to "
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        "Note that the quotation marks are necessary and that no white space "
        "is allowed.",
    )
    parser.add_argument(
        "--launcher", choices=LAUNCHERS, default="none", help="job launcher"
    )
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    return args


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config, merge command-line overrides and check the scope.

    Args:
        path (str): Config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.

    Returns:
        Config: The config, with ``default_scope='mmseg'``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"Config file not found: {path}")
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get("default_scope")
    if scope is None:
        cfg.default_scope = "mmseg"
    elif scope != "mmseg":
        # mtcp registers into mmseg's registries only.
        raise ValueError(
            f"{path}: default_scope is {scope!r}; mtcp configs need "
            "default_scope='mmseg'"
        )
    return cfg


def set_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> None:
    """``--work-dir`` > the config's ``work_dir`` > ./work_dirs/<config name>."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = osp.join(
            "./work_dirs", osp.splitext(osp.basename(config_path))[0]
        )


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to ``AmpOptimWrapper`` (dynamic loss scale).

    mmengine's ``AmpOptimWrapper`` is float16 autocast with a gradient scaler
    and refuses to build without a CUDA, NPU, MLU or MUSA device, so the
    missing device is reported here, before anything is built.
    """
    device = get_device()
    if device == "cpu":
        raise RuntimeError(
            "--amp needs a GPU (or NPU/MLU/MUSA device): mmengine's "
            "AmpOptimWrapper does not run on CPU, and no accelerator is "
            "available on this machine. Drop --amp to train in float32."
        )
    wrapper_type = cfg.optim_wrapper.get("type", "OptimWrapper")
    if wrapper_type == "AmpOptimWrapper":
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


def adapt_to_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Make a multi-process run work on a machine without an accelerator.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and its default
    DDP wrapper passes ``device_ids=[LOCAL_RANK]``; both fail without CUDA.
    For ``launcher='pytorch'`` on CPU the backend becomes gloo (the process
    group is then created by :func:`init_cpu_process_group`) and DDP gets
    ``device_ids=None``, as torch requires for CPU modules. Does nothing on a
    single process or when an accelerator is available.

    Args:
        cfg (Config): Config to update in place.
        launcher (str): One of ``LAUNCHERS``.
    """
    if launcher == "none" or get_device() != "cpu":
        return
    if launcher != "pytorch":
        raise RuntimeError(
            f"--launcher {launcher} needs GPUs, and none is available on this "
            "machine; for multi-process CPU runs use tools/dist_train.sh or "
            "tools/dist_test.sh (--launcher pytorch, gloo backend)"
        )
    cfg.setdefault("env_cfg", {})
    cfg.env_cfg.setdefault("dist_cfg", {})
    cfg.env_cfg.dist_cfg.backend = "gloo"
    wrapper = cfg.get("model_wrapper_cfg")
    if wrapper is None:
        wrapper = dict(
            type="MMDistributedDataParallel",
            broadcast_buffers=False,
            find_unused_parameters=cfg.get("find_unused_parameters", False),
        )
    wrapper["device_ids"] = None
    cfg.model_wrapper_cfg = wrapper


def init_cpu_process_group(cfg: Config, launcher: str) -> None:
    """Create the gloo process group chosen by :func:`adapt_to_cpu_distributed`.

    The Runner skips its own ``init_dist`` (which needs CUDA) when a process
    group already exists; torchrun provides RANK, WORLD_SIZE, MASTER_ADDR and
    MASTER_PORT.
    """
    if launcher != "pytorch" or get_device() != "cpu":
        return
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend=cfg.env_cfg.dist_cfg.backend)


def build_train_config(args: argparse.Namespace) -> Config:
    """The config a training run uses, with every command-line option applied."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg, args.config)
    cfg.resume = args.resume
    resolve_resume(cfg)
    adapt_to_cpu_distributed(cfg, args.launcher)
    return cfg


def build_runner(cfg: Config, launcher: str) -> Runner:
    """The Runner of ``cfg`` (or its ``runner_type``), after joining the
    process group on CPU-only distributed runs."""
    init_cpu_process_group(cfg, launcher)
    if "runner_type" not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    runner = build_runner(build_train_config(args), args.launcher)
    check_runner(runner, "train")
    runner.train()


if __name__ == "__main__":
    main()
