"""Shared by the tests that compare checkpoints tensor by tensor."""

import torch


def tensors(obj, prefix=""):
    """Every tensor inside a checkpoint, by its path of keys."""
    if torch.is_tensor(obj):
        yield prefix, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from tensors(value, f"{prefix}/{key}")
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            yield from tensors(value, f"{prefix}/{index}")
