"""Safe checkpoint loading for torch >= 2.6 with mmengine 0.10.7.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; since torch 2.6
that means ``weights_only=True``, which refuses the objects mmengine stores in
a training checkpoint (the message hub's :class:`HistoryBuffer` and the numpy
arrays inside it). Instead of turning the safety off we allow-list exactly
those objects, and only for the loads that need them: mmengine's local-file
and HTTP checkpoint loaders are replaced (in mmengine's
:class:`~mmengine.runner.CheckpointLoader`, when :mod:`mtcp` is imported) by
loaders that run inside :func:`safe_checkpoint_loading`. Every other
``torch.load`` in the process keeps torch's own allow-list.

A HistoryBuffer pickles its statistics methods (``min``, ``max``, ``mean``,
``current``) as ``getattr(HistoryBuffer, 'min')``. Allow-listing Python's
``getattr`` would let a pickle fetch any attribute of any allowed object, so
the global name ``builtins.getattr`` is mapped to :func:`history_buffer_method`
instead, which only resolves those statistics methods of a HistoryBuffer.
"""

import os.path as osp
import pickle
import re
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union
from urllib.error import URLError

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

# The statistics methods HistoryBuffer registers for itself.
HISTORY_BUFFER_METHODS = ("current", "max", "mean", "min")


def history_buffer_method(obj: Any, name: str) -> Callable:
    """Resolve ``getattr(HistoryBuffer, name)`` for a statistics method.

    Raises:
        pickle.UnpicklingError: for anything other than one of
            :data:`HISTORY_BUFFER_METHODS` of the HistoryBuffer class.
    """
    if obj is not HistoryBuffer or name not in HISTORY_BUFFER_METHODS:
        raise pickle.UnpicklingError(
            f"Refusing getattr({obj!r}, {name!r}) while loading a checkpoint: "
            f"only HistoryBuffer.{{{', '.join(HISTORY_BUFFER_METHODS)}}} "
            "may be looked up"
        )
    return getattr(obj, name)


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    # numpy pickles arrays through ``multiarray._reconstruct`` and scalars
    # through ``multiarray.scalar``. The module is ``numpy._core`` from numpy
    # 2 on and ``numpy.core`` before: allow both names so checkpoints written
    # under either numpy load.
    reconstruct = np.array([0]).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    names = []
    for core in ("numpy.core", "numpy._core"):
        names += [
            (reconstruct, f"{core}.multiarray._reconstruct"),
            (scalar, f"{core}.multiarray.scalar"),
        ]
    # Unpickling a dtype instance builds an object of its concrete class
    # (``numpy.dtypes.Float64DType``, ...): allow the numeric ones.
    dtype_classes = [
        type(np.dtype(t))
        for t in (
            np.bool_,
            np.int8,
            np.int16,
            np.int32,
            np.int64,
            np.uint8,
            np.uint16,
            np.uint32,
            np.uint64,
            np.float16,
            np.float32,
            np.float64,
        )
    ]
    return [np.ndarray, np.dtype] + dtype_classes + names


def safe_checkpoint_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The objects an mmengine training checkpoint needs beyond tensors."""
    return [
        HistoryBuffer,
        (history_buffer_method, "builtins.getattr"),
    ] + _numpy_globals()


@contextmanager
def safe_checkpoint_loading() -> Iterator[None]:
    """Allow-list mmengine's checkpoint objects for the loads inside.

    Example:
        >>> with safe_checkpoint_loading():
        ...     ckpt = torch.load('epoch_1.pth', weights_only=True)
    """
    with torch.serialization.safe_globals(safe_checkpoint_globals()):
        yield


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the model."""


def explain_load_error(filename: str, err: Exception) -> CheckpointError:
    """Our words for what ``torch.load`` raised on ``filename``.

    torch names neither the file nor what was expected, and answers an
    object outside the allow-list with the advice to turn the safe loading
    off; the message here names the file and what a checkpoint holds.
    """
    text = str(err)
    if isinstance(err, pickle.UnpicklingError):
        found = re.search(r"GLOBAL ([\w.]+)", text)
        refused = re.search(r"(Refusing [^\n]*)", text)
        if found or refused:
            what = (
                f"an object of type {found.group(1)}"
                if found
                else f"a lookup that was refused ({refused.group(1)})"
            )
            return CheckpointError(
                f"{filename}: the checkpoint holds {what}, which is not loaded "
                "for safety: a checkpoint should hold only tensors, numbers, "
                "strings, numpy arrays and mmengine's training state. Do not load "
                "a file of unknown origin; if you wrote it, save the model's "
                "state_dict (or a dict of tensors) instead."
            )
    if osp.isfile(filename) and osp.getsize(filename) == 0:
        return CheckpointError(f"{filename} is empty (0 bytes)")
    # torch's unpickling errors carry its advice to load unsafely: left out
    lines = text.splitlines()
    detail = (
        f": {lines[0][:200]}"
        if lines and not isinstance(err, pickle.UnpicklingError)
        else ""
    )
    return CheckpointError(
        f"{filename} is not a PyTorch checkpoint, or is truncated "
        f"({type(err).__name__} while reading it{detail}). "
        "Expected a complete file written by torch.save, e.g. a training "
        "checkpoint epoch_N.pth; a copy cut short reads like this."
    )


def load_from_local(filename: str, map_location: Optional[str] = None) -> dict:
    """mmengine's local-file loader, with the checkpoint allow-list; a file
    that cannot be read is reported by :func:`explain_load_error`."""
    with safe_checkpoint_loading():
        try:
            return _MMENGINE_LOADERS["local"](filename, map_location)
        except FileNotFoundError:
            raise
        # torch reports a file that is not a checkpoint with whatever the
        # unpickler or zip reader hit first (KeyError, EOFError, RuntimeError...)
        except Exception as err:
            raise explain_load_error(osp.expanduser(filename), err) from None


def load_from_http(filename: str, map_location: Optional[str] = None) -> dict:
    """mmengine's HTTP(S) loader, with the allow-list and an offline hint.

    Raises:
        FileNotFoundError: the URL cannot be downloaded (e.g. offline); the
            message names the URL and where to put the file by hand.
    """
    try:
        with safe_checkpoint_loading():
            return _MMENGINE_LOADERS["http"](filename, map_location)
    except (URLError, ConnectionError, TimeoutError) as err:
        cache = osp.join(torch.hub.get_dir(), "checkpoints")
        name = osp.basename(filename.split("?")[0])
        raise FileNotFoundError(
            f"Cannot download the checkpoint {filename} ({err}). Without "
            f"network access, download it elsewhere and put it at "
            f"{osp.join(cache, name)} (mmengine's download cache), or set the "
            "checkpoint to a local path"
        ) from err


_MMENGINE_LOADERS = {
    "local": mmengine_checkpoint.load_from_local,
    "http": mmengine_checkpoint.load_from_http,
}


def register_checkpoint_loaders() -> None:
    """Route mmengine's local and HTTP(S) checkpoint loads through ours.

    Idempotent; called when :mod:`mtcp` is imported. Covers every load that
    goes through :class:`~mmengine.runner.CheckpointLoader`: ``--resume``,
    ``load_from``, ``PretrainedInit`` and ``load_checkpoint``.
    """
    CheckpointLoader.register_scheme(prefixes="", loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(
        prefixes=("http://", "https://"), loader=load_from_http, force=True
    )
