"""Runner set-up shared by tools/train.py and tools/test.py.

Config loading with ``--cfg-options``, the work directory, the launcher
options, CPU-only distributed runs and the Runner itself.
"""

import argparse
import logging
import os
import os.path as osp
from datetime import timedelta
from typing import Optional, Sequence

import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from mtcp.engine.config_checks import (
    check_cfg_options_keys,
    check_loop_cfgs,
    check_work_dir,
)
from mtcp.tasks import declare_tasks
from mtcp.utils.malloc import apply_malloc_cfg

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
    """Read a config, merge command-line overrides and check the scope,
    the top-level keys of the overrides and the loops' arguments
    (:mod:`mtcp.engine.config_checks`).

    Args:
        path (str): Config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.

    Returns:
        Config: The config, with ``default_scope='mmseg'``; the tasks it
        declares in ``task_table`` are registered (:func:`declare_tasks`).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"Config file not found: {path}")
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        check_cfg_options_keys(cfg, cfg_options, path)
        cfg.merge_from_dict(cfg_options)
    check_loop_cfgs(cfg, path)
    scope = cfg.get("default_scope")
    if scope is None:
        cfg.default_scope = "mmseg"
    elif scope != "mmseg":
        # mtcp registers into mmseg's registries only.
        raise ValueError(
            f"{path}: default_scope is {scope!r}; mtcp configs need "
            "default_scope='mmseg'"
        )
    declare_tasks(cfg.get("task_table"))
    return cfg


def set_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> None:
    """``--work-dir`` > the config's ``work_dir`` > ./work_dirs/<config name>;
    the directory is created here, or an error says why it cannot be."""
    if work_dir is not None:
        cfg.work_dir, source = work_dir, "--work-dir"
    elif cfg.get("work_dir") is None:
        cfg.work_dir = osp.join(
            "./work_dirs", osp.splitext(osp.basename(config_path))[0]
        )
        source = "the default work dir"
    else:
        source = f"work_dir of {config_path}"
    check_work_dir(cfg.work_dir, source)


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
    MASTER_PORT. ``env_cfg.dist_cfg.timeout`` (seconds), which mmengine's
    ``init_dist`` honours, is the collectives' timeout here too.
    """
    if launcher != "pytorch" or get_device() != "cpu":
        return
    if not torch_dist.is_initialized():
        dist_cfg = cfg.env_cfg.dist_cfg
        timeout = dist_cfg.get("timeout")
        torch_dist.init_process_group(
            backend=dist_cfg.backend,
            timeout=None if timeout is None else timedelta(seconds=timeout),
        )


def close_process_group() -> None:
    """Wait for every process, then destroy the process group, if any.

    Called by the tools after a run that ended normally. Without it the rank
    that finishes first leaves the interpreter with its gloo group alive,
    torch aborts that process ("terminate called without an active
    exception") while rank 0 may still be writing the last checkpoint, and
    torchrun then kills the whole job with a failure.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def report_failure(work_dir: str) -> None:
    """Log, in a multi-process run that failed, what usually caused it and
    where training can be resumed from (the error itself follows)."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    record = osp.join(work_dir, "last_checkpoint")
    last = "none was written"
    if osp.isfile(record):
        with open(record) as file:
            last = file.read().strip() or last
    print_log(
        f"Rank {torch_dist.get_rank()} of {torch_dist.get_world_size()}: training "
        "failed with the error below. In multi-process training an error in a "
        "collective ('Connection closed by peer', 'Timed out waiting', an NCCL "
        "watchdog timeout) means that another process died or hung first: its "
        "own log and the launcher's summary (torchrun's 'Root Cause') name it. "
        f"Last complete checkpoint: {last}; restart with --resume.",
        logger="current",
        level=logging.ERROR,
    )


def build_runner(cfg: Config, launcher: str) -> Runner:
    """The Runner of ``cfg`` (or its ``runner_type``), after joining the
    process group on CPU-only distributed runs and applying the config's
    malloc setting (``env_cfg.malloc_mmap_threshold``)."""
    init_cpu_process_group(cfg, launcher)
    apply_malloc_cfg(cfg)
    if "runner_type" not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)
