"""Load a checkpoint into a model only when it fits it exactly.

mmengine's ``load_checkpoint`` is lenient: missing, unexpected or mis-shaped
weights are logged and skipped, so a checkpoint of another configuration
leaves randomly initialised heads that are then evaluated as if trained.
Testing and inference load through :func:`load_checkpoint_strictly`, which
refuses such a checkpoint with the mismatching keys listed, refuses weights
that are NaN or infinite (naming the tensors) and explains a file that is not
a checkpoint at all in its own words.

Pretrained weights load through mmengine's ``PretrainedInit``, which is
lenient too (it only logs missing and unexpected keys, and weights of another
shape); :func:`refuse_unfitting_pretrained` makes a checkpoint that matches
none of a module's weights, or holds one of another shape, an error.
"""

import re
from collections import OrderedDict
from contextlib import contextmanager
from typing import Dict, Iterator, List

import torch
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner.checkpoint import _load_checkpoint

from mtcp.utils.checkpoint import CheckpointError, explain_load_error

# How many keys of each kind an error message lists.
MAX_LISTED = 10


def read_checkpoint(filename: str) -> dict:
    """Read a checkpoint file (or URL) with torch's safe loading.

    Raises:
        FileNotFoundError: The file does not exist.
        CheckpointError: The file is not a checkpoint, or holds objects that
            a safe load refuses.
    """
    try:
        checkpoint = _load_checkpoint(filename, map_location="cpu")
    except (FileNotFoundError, CheckpointError):
        raise
    # loaders other than the local one (URLs, ...) report torch's own errors
    except Exception as err:
        raise explain_load_error(filename, err) from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"{filename} holds a {type(checkpoint).__name__}, expected a dict "
            "with a 'state_dict' (or a state dict itself)"
        )
    return checkpoint


def checkpoint_state_dict(checkpoint: dict, filename: str) -> "OrderedDict":
    """The model weights of a checkpoint, without DDP's ``module.`` prefix."""
    state_dict = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state_dict, dict):
        raise CheckpointError(
            f"{filename}: 'state_dict' is a {type(state_dict).__name__}, "
            "expected a dict of tensors"
        )
    not_tensors = [k for k, v in state_dict.items() if not torch.is_tensor(v)]
    if not_tensors:
        raise CheckpointError(
            f"{filename} has no model weights: {_listed(not_tensors)} are not "
            "tensors (expected a checkpoint with a 'state_dict', or a state "
            "dict itself)"
        )
    return OrderedDict((re.sub(r"^module\.", "", k), v) for k, v in state_dict.items())


def check_state_dict_fits(
    model: torch.nn.Module, state_dict: Dict[str, torch.Tensor], filename: str
) -> None:
    """Raise unless ``state_dict`` has exactly the model's keys and shapes,
    all finite."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mis_shaped = _mis_shaped(expected, state_dict)
    problems = []
    if missing:
        problems.append(f"missing in the checkpoint: {_listed(missing)}")
    if unexpected:
        problems.append(f"not in the model: {_listed(unexpected)}")
    if mis_shaped:
        problems.append(f"of another shape: {_listed(mis_shaped)}")
    if problems:
        raise CheckpointError(
            f"{filename} does not fit the model of this config "
            f"({type(model).__name__}); weights "
            + "; ".join(problems)
            + ". Was it trained with another config (tasks, classes, model size)?"
        )
    non_finite = [
        k
        for k, v in state_dict.items()
        if not _is_extra_state(k)
        and v.is_floating_point()
        and not torch.isfinite(v).all()
    ]
    if non_finite:
        raise CheckpointError(
            f"{filename} has NaN or infinite weights in {_listed(non_finite)}; "
            "the training run that wrote it diverged"
        )


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside DDP and :class:`~mmengine.model.BaseTTAModel`
    wrappers, whose weights a checkpoint holds (as mmengine's loading)."""
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def check_checkpoint_fits(model: torch.nn.Module, filename: str) -> dict:
    """Read ``filename`` and raise :class:`CheckpointError` unless its weights
    fit ``model`` (unwrapping DDP and test-time augmentation) exactly and are
    finite.

    Returns:
        dict: The checkpoint.
    """
    model = unwrap_model(model)
    checkpoint = read_checkpoint(filename)
    check_state_dict_fits(model, checkpoint_state_dict(checkpoint, filename), filename)
    return checkpoint


def load_checkpoint_strictly(model: torch.nn.Module, filename: str) -> dict:
    """Load ``filename`` into ``model`` (unwrapping DDP and test-time
    augmentation) when it fits exactly.

    Returns:
        dict: The checkpoint (with its ``meta``).
    """
    checkpoint = check_checkpoint_fits(model, filename)
    model = unwrap_model(model)
    model.load_state_dict(checkpoint_state_dict(checkpoint, filename), strict=True)
    return checkpoint


def _is_extra_state(key: str) -> bool:
    return key.rsplit(".", 1)[-1] == "_extra_state"


def _mis_shaped(
    expected: Dict[str, torch.Tensor], state_dict: Dict[str, torch.Tensor]
) -> List[str]:
    """``'key (shape in state_dict) (model: expected shape)'`` for every key of
    both whose shapes differ. A module's ``_extra_state`` (e.g. the loss
    weighting's history) is its own encoding, of varying length, validated by
    its ``set_extra_state``, and is skipped."""
    return [
        f"{k} {tuple(state_dict[k].shape)} (model: {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state_dict and not _is_extra_state(k) and state_dict[k].shape != v.shape
    ]


def _listed(keys: List[str]) -> str:
    shown = ", ".join(keys[:MAX_LISTED])
    more = len(keys) - MAX_LISTED
    return f"{shown} (and {more} more)" if more > 0 else shown


def check_pretrained_fits(
    module: torch.nn.Module,
    state_dict: Dict[str, torch.Tensor],
    prefix: str,
    filename: str,
) -> None:
    """Raise unless some of ``module``'s weights are in ``state_dict`` and
    every one there has the module's shape.

    Missing and unexpected keys alone are allowed (mmengine logs them): a
    pretrained checkpoint may cover only part of a model.

    Args:
        module (nn.Module): The module being loaded.
        state_dict (dict): The weights being loaded into it.
        prefix (str): The module's prefix in ``state_dict``.
        filename (str): The checkpoint, for the message.
    """
    own = {prefix + k: v for k, v in module.state_dict().items()}
    matched = [k for k in own if k in state_dict]
    mis_shaped = _mis_shaped(own, state_dict)
    if matched and not mis_shaped:
        return
    missing = [k for k in own if k not in state_dict]
    problems = [
        f"{len(matched) - len(mis_shaped)} of the model's {len(own)} weights "
        "match the checkpoint's keys and shapes"
    ]
    if mis_shaped:
        problems.append(f"of another shape: {_listed(mis_shaped)}")
    if missing:
        problems.append(f"missing in the checkpoint: {_listed(missing)}")
    problems.append(f"the checkpoint has e.g. {_listed(list(state_dict))}")
    raise CheckpointError(
        f"{filename} does not fit {type(module).__name__} as pretrained "
        "weights: "
        + "; ".join(problems)
        + ". Is it a checkpoint of another model or size?"
    )


@contextmanager
def refuse_unfitting_pretrained(
    module: torch.nn.Module, filename: str
) -> Iterator[None]:
    """Within the block, loading weights into ``module`` (e.g. by mmengine's
    ``PretrainedInit`` in ``init_weights``) raises :class:`CheckpointError`
    through :func:`check_pretrained_fits` when they do not fit it."""

    def check(target, state_dict, prefix, *args) -> None:
        check_pretrained_fits(target, state_dict, prefix, filename)

    handle = module.register_load_state_dict_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()
