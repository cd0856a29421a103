"""Mixed precision on CPU: bfloat16 autocast around the forward and loss."""

import logging
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX,
    as oneDNN reports it); without, bf16 matmuls are emulated and usually
    slower than float32."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward and loss run under
    ``torch.autocast('cpu', dtype)``.

    mmengine's ``AmpOptimWrapper`` is float16 autocast with a gradient
    scaler and builds only on CUDA-like devices. bfloat16 has float32's
    exponent range: its gradients need no loss scaling, so on CPU autocast
    alone is mixed precision. The weights, gradients and optimizer state stay
    float32; the backward runs in the dtypes autocast chose.

    Args:
        dtype (torch.dtype | str): The autocast dtype; only bfloat16
            (float16 would need loss scaling). Default: ``torch.bfloat16``.
        *args, **kwargs: Those of ``OptimWrapper`` (``optimizer``, ...).
    """

    def __init__(self, *args, dtype=torch.bfloat16, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None)
        if dtype is not torch.bfloat16:
            raise ValueError(
                "CPUAutocastOptimWrapper: dtype must be torch.bfloat16 ('bfloat16'); "
                f"got {dtype!r}. float16 needs loss scaling, which mmengine's "
                "AmpOptimWrapper offers on CUDA-like devices only"
            )
        self.cast_dtype = dtype
        if not cpu_has_native_bf16():
            print_log(
                "CPUAutocastOptimWrapper: this CPU has no native bfloat16 "
                "(AVX-512 BF16 or AMX): autocast runs, emulated, and is usually "
                "slower than float32",
                logger="current",
                level=logging.WARNING,
            )

    @contextmanager
    def optim_context(self, model: nn.Module):
        """The parent's context (gradient accumulation) under autocast."""
        with super().optim_context(model), torch.autocast("cpu", self.cast_dtype):
            yield
