"""Checks of a config before anything is built, naming the key at fault.

mmengine accepts a misspelt ``--cfg-options`` key silently (the config gains
an entry nothing reads), refuses an unknown loop argument only when it
builds the loop (after the model and the datasets), and reports a work dir
it cannot create, or a relative ``data_root`` that does not exist, with the
bare OS error.
"""

import difflib
import inspect
import os
import os.path as osp
from typing import Iterable, Iterator, List, Optional, Tuple

from mmengine.config import Config
from mmengine.runner import (
    EpochBasedTrainLoop,
    IterBasedTrainLoop,
    TestLoop,
    ValLoop,
)
from mmseg.registry import LOOPS

# Top-level keys that mmengine's Runner (``from_cfg``, ``wrap_model``), its
# registries and the mtcp tools read; a config may leave them out.
RUNNER_KEYS = frozenset(
    [
        "auto_scale_lr",
        "custom_hooks",
        "custom_imports",
        "data_preprocessor",
        "default_hooks",
        "default_scope",
        "env_cfg",
        "experiment_name",
        "find_unused_parameters",
        "launcher",
        "load_from",
        "log_level",
        "log_processor",
        "model",
        "model_wrapper_cfg",
        "optim_wrapper",
        "param_scheduler",
        "randomness",
        "resume",
        "runner_type",
        "test_cfg",
        "test_dataloader",
        "test_evaluator",
        "train_cfg",
        "train_dataloader",
        "tta_model",
        "tta_pipeline",
        "val_cfg",
        "val_dataloader",
        "val_evaluator",
        "visualizer",
        "work_dir",
    ]
)
# The loop each ``*_cfg`` builds without a ``type`` (mmengine's Runner).
_DEFAULT_LOOPS = {"val_cfg": ValLoop, "test_cfg": TestLoop}
# Loop arguments the Runner passes itself.
_PASSED_BY_RUNNER = ("self", "runner", "dataloader", "evaluator")


def _closest(name: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_cfg_options_keys(cfg: Config, cfg_options: Optional[dict], path: str) -> None:
    """Refuse a ``--cfg-options`` key whose top level is neither in the
    config nor read by the Runner or the tools (a typo such as
    ``randomnes.seed=1`` would otherwise change nothing).

    Args:
        cfg (Config): The config before the options are merged.
        cfg_options (dict, optional): The ``--cfg-options`` overrides.
        path (str): The config file, for the message.

    Raises:
        ValueError: naming the option and the closest existing key.
    """
    known = set(cfg.keys()) | RUNNER_KEYS
    for option in cfg_options or {}:
        top = option.split(".")[0]
        if top not in known:
            raise ValueError(
                f"--cfg-options {option}: {path} has no top-level key {top!r} "
                f"and nothing reads one{_closest(top, known)}"
            )


def _loop_class(key: str, loop_cfg: dict) -> Tuple[Optional[type], List[str]]:
    """The class ``loop_cfg`` builds and the keys the Runner consumes itself."""
    loop_type = loop_cfg.get("type")
    if loop_type is None:
        if key == "train_cfg":
            by_epoch = loop_cfg.get("by_epoch")
            return (EpochBasedTrainLoop if by_epoch else IterBasedTrainLoop), [
                "by_epoch"
            ]
        return _DEFAULT_LOOPS[key], []
    if isinstance(loop_type, str):
        return LOOPS.get(loop_type), ["type"]
    return loop_type, ["type"]


def check_loop_cfgs(cfg: Config, path: str) -> None:
    """Refuse ``train_cfg``/``val_cfg``/``test_cfg`` keys that their loop
    does not take (e.g. ``max_iters`` for an epoch-based loop), before the
    Runner builds the model and the datasets.

    Raises:
        ValueError: naming the key, the loop and the arguments it takes.
    """
    for key in ("train_cfg", "val_cfg", "test_cfg"):
        loop_cfg = cfg.get(key)
        if not isinstance(loop_cfg, dict):
            continue
        if key == "train_cfg" and "type" not in loop_cfg and "by_epoch" not in loop_cfg:
            raise ValueError(
                f"{path}: train_cfg has neither `type` nor `by_epoch`; set e.g. "
                "type='ResumableEpochBasedTrainLoop' (or 'IterBasedTrainLoop')"
            )
        cls, consumed = _loop_class(key, loop_cfg)
        if cls is None:
            raise ValueError(
                f"{path}: {key}.type={loop_cfg['type']!r} is not a registered loop"
            )
        params = inspect.signature(cls.__init__).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            continue
        accepted = [n for n in params if n not in _PASSED_BY_RUNNER]
        unknown = [k for k in loop_cfg if k not in accepted and k not in consumed]
        if unknown:
            name = unknown[0]
            raise ValueError(
                f"{path}: {key}.{name} is not an argument of {cls.__name__}"
                f"{_closest(name, accepted)}; it takes {accepted}"
            )


def check_work_dir(work_dir: str, source: str) -> None:
    """Create ``work_dir`` (as the Runner would) or say why it cannot be.

    Args:
        work_dir (str): The directory.
        source (str): Where it comes from (``--work-dir``, the config's
            ``work_dir``), for the message.

    Raises:
        NotADirectoryError: ``work_dir`` (or a parent) is a file.
        PermissionError / OSError: it cannot be created or written to.
    """
    problem = None
    try:
        os.makedirs(work_dir, exist_ok=True)
    except FileExistsError:
        problem = NotADirectoryError, "it is a file"
    except NotADirectoryError:
        problem = NotADirectoryError, "a part of the path is a file"
    except OSError as error:
        problem = type(error), f"creating it failed: {error.strerror or error}"
    else:
        if not os.access(work_dir, os.W_OK | os.X_OK):
            problem = PermissionError, "it is not writable"
    if problem is not None:
        error_type, why = problem
        raise error_type(
            f"{source} {work_dir}: cannot use it as the work directory ({why}); "
            "expected a directory that can be created and written to (logs and "
            "checkpoints go there)"
        )


def _dataset_cfgs(dataset_cfg, where: str) -> Iterator[Tuple[dict, str]]:
    """Every dataset config inside ``dataset_cfg`` (through the wrappers'
    ``dataset``/``datasets``), with its config path."""
    if not isinstance(dataset_cfg, dict):
        return
    yield dataset_cfg, where
    yield from _dataset_cfgs(dataset_cfg.get("dataset"), f"{where}.dataset")
    for index, inner in enumerate(dataset_cfg.get("datasets") or []):
        yield from _dataset_cfgs(inner, f"{where}.datasets[{index}]")


def check_data_roots(cfg: Config, loaders: Iterable[str], path: str) -> None:
    """Refuse a local ``data_root`` that is not a directory, naming the
    directory a relative one was resolved from.

    Args:
        cfg (Config): The config.
        loaders (Iterable[str]): The dataloader keys the run uses.
        path (str): The config file, for the message.

    Raises:
        FileNotFoundError: naming the key, the path and, for a relative one,
            the current directory and the absolute path.
    """
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not isinstance(loader_cfg, dict):
            continue
        top = loader_cfg.get("dataset")
        for dataset_cfg, where in _dataset_cfgs(top, f"{loader}.dataset"):
            root = dataset_cfg.get("data_root")
            if not isinstance(root, str) or "://" in root or osp.isdir(root):
                continue
            state = "is a file" if osp.exists(root) else "does not exist"
            if osp.isabs(root):
                detail = f"{root} {state}"
            else:
                detail = (
                    f"it is relative to the current directory {os.getcwd()}, "
                    f"and {osp.abspath(root)} {state}; run from the directory it "
                    "is relative to (the repository root for the shipped "
                    "configs) or set an absolute path"
                )
            raise FileNotFoundError(
                f"{path}: {where}.data_root={root!r} is not a directory: {detail} "
                "(expected the dataset's root directory, see docs/data.md)"
            )
