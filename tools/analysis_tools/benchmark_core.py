"""The measurements of ``benchmark.py`` (see its docstring): config
overrides, the model and its synthetic batch, the timed training and
inference steps, parameters, FLOPs and the table of results."""

import argparse
import resource
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmseg.registry import MODELS
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

import mtcp  # noqa: F401  (registers the modules)

AMP_DTYPES = dict(none=None, fp16=torch.float16, bf16=torch.bfloat16)


def model_batch_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the options every measurement of a config's model
    takes: the config, the input size and the batch size."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", help="config file with a `model` field")
    parser.add_argument(
        "--input-size", type=int, nargs=2, default=(448, 576), metavar=("H", "W")
    )
    parser.add_argument("--batch-size", type=int, default=2)
    return parser


def set_checkpointing(model: Config, enabled: bool) -> None:
    """Set every activation checkpointing switch of a model config: Swin,
    the pixel and transformer decoders, the task decoders and, for MT-CP,
    the CFMs, SRMs, heads and losses."""
    backbone = model.get("backbone")
    if backbone is not None:
        if backbone.get("type") == "SharedMask2Former":
            # A full Swin config or, with an `arch` preset, its overrides.
            backbone.backbone = dict(backbone.get("backbone") or {}, with_cp=enabled)
            backbone.pixel_decoder_with_cp = enabled
            backbone.transformer_decoder_with_cp = enabled
        else:
            backbone.with_cp = enabled
    if model.get("decoder") is not None:
        model.decoder.with_cp = enabled
    if model.get("type") == "MTCP":
        for part in ("cfm", "srm", "head"):
            model[part] = dict(model.get(part) or {}, with_cp=enabled)
        model.loss_with_cp = enabled


def load_config(
    config: str,
    cfg_options: Optional[dict] = None,
    cfm_attention: Optional[str] = None,
    with_cp: Optional[bool] = None,
) -> Config:
    """Read the config and apply the benchmark's overrides.

    ``with_cp`` True or False sets every checkpointing switch
    (:func:`set_checkpointing`); None keeps the config's. The pretrained
    checkpoint is dropped: loading it changes no cost, and it may not be on
    disk.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    # The allocator setting of the config's training runs (env_cfg); imported
    # only then, since run B of ``--compare-pythonpath`` may be a checkout of
    # mtcp from before the setting existed.
    if cfg.get("env_cfg", {}).get("malloc_mmap_threshold") is not None:
        from mtcp.utils.malloc import apply_malloc_cfg

        apply_malloc_cfg(cfg)
    model = cfg.model
    if model.get("backbone") is not None:
        model.backbone.init_cfg = None
    if with_cp is not None:
        set_checkpointing(model, with_cp)
    if cfm_attention is not None:
        model.cfm = dict(model.get("cfm") or {}, attention=cfm_attention)
    return cfg


def build_model(cfg: Config, device: torch.device, channels_last: bool) -> nn.Module:
    """Build ``cfg.model`` with its own initialisation on ``device``."""
    # init_weights logs every parameter at INFO to the current mmengine logger;
    # a WARNING-level logger made current keeps the figures readable.
    MMLogger.get_instance("mtcp_benchmark", log_level="WARNING")
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


class AutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward runs under ``torch.autocast``.

    mmengine's ``AmpOptimWrapper`` only accepts CUDA-like devices; bf16
    needs no loss scaling, so on CPU autocast alone is mixed precision.
    """

    def __init__(self, *args, device_type: str, dtype: torch.dtype, **kwargs):
        super().__init__(*args, **kwargs)
        self.device_type = device_type
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: nn.Module):
        """The parent's context (gradient accumulation) under autocast."""
        with super().optim_context(model), torch.autocast(
            device_type=self.device_type, dtype=self.cast_dtype
        ):
            yield


def build_optim_wrapper(
    model: nn.Module, amp: str, device: torch.device
) -> OptimWrapper:
    """AdamW with the SPEC's recipe; mixed precision when ``amp`` is set."""
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=5e-5,
        betas=(0.9, 0.999),
        weight_decay=1e-4,
    )
    dtype = AMP_DTYPES[amp]
    if dtype is None:
        return OptimWrapper(optimizer)
    if device.type == "cpu":
        if dtype is torch.float16:
            raise ValueError(
                "--amp fp16 needs loss scaling, which mmengine only offers on "
                "CUDA-like devices; use --amp bf16 on CPU"
            )
        return AutocastOptimWrapper(optimizer, device_type="cpu", dtype=dtype)
    return AmpOptimWrapper(optimizer=optimizer, dtype=dtype)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def max_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def time_train_steps(
    model: nn.Module,
    data: dict,
    optim_wrapper: OptimWrapper,
    warmup: int,
    repeats: int,
    device: torch.device,
) -> Dict[str, object]:
    """Time ``model.train_step``; returns the wall-clock and the process CPU
    seconds (all threads) of each timed step, the last step's losses and the
    peak memory of training. On a loaded machine the CPU seconds vary much
    less than the wall-clock ones."""
    model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, cpu_times = [], []
    for i in range(warmup + repeats):
        _sync(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        log_vars = model.train_step(data, optim_wrapper)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = max_rss_bytes()
    losses = {k: float(v) for k, v in log_vars.items()}
    return dict(times=times, cpu_times=cpu_times, peak_bytes=peak, losses=losses)


def time_inference(
    model: nn.Module,
    data: dict,
    warmup: int,
    repeats: int,
    device: torch.device,
    amp: str = "none",
) -> List[float]:
    """Seconds per image of ``model.test_step`` on the batch, per repeat."""
    model.eval()
    dtype = AMP_DTYPES[amp]
    autocast = (
        torch.autocast(device_type=device.type, dtype=dtype)
        if dtype is not None
        else nullcontext()
    )
    batch_size = len(data["inputs"])
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            _sync(device)
            start = time.perf_counter()
            with autocast:
                model.test_step(data)
            _sync(device)
            if i >= warmup:
                times.append((time.perf_counter() - start) / batch_size)
    return times


def count_parameters(model: nn.Module) -> Dict[str, int]:
    """All parameters and the trainable ones."""
    return dict(
        params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
    )


def _sdpa_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# PyTorch's FlopCounterMode counts the CUDA SDPA kernels but not the CPU flash
# kernel, which the CFM's attention runs on CPU: count it with the same formula.
SDPA_CPU_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops
}


def count_flops(model: nn.Module, data: dict, depth: int = 0, min_flops: float = 1e9):
    """Forward FLOPs of one image (tensor mode, eval, no grad).

    With ``depth`` > 0, returns ``(total, by_module)``: the FLOPs of every
    module at most ``depth`` levels below the model (e.g. ``cfms.semseg`` at
    2) that runs at least ``min_flops``.
    """
    model.eval()
    one = dict(inputs=data["inputs"][:1], data_samples=data["data_samples"][:1])
    with torch.no_grad():
        inputs = model.data_preprocessor(one, False)["inputs"]
        counter = FlopCounterMode(
            display=False, custom_mapping=SDPA_CPU_FLOPS, depth=depth + 1
        )
        with counter:
            model(inputs, mode="tensor")
    total = int(counter.get_total_flops())
    if depth <= 0:
        return total
    by_module = {}
    for name, ops in counter.get_flop_counts().items():
        # FlopCounterMode names modules `<ModelClass>.<attribute path>`.
        parts = name.split(".")[1:]
        flops = int(sum(ops.values()))
        if name != "Global" and 0 < len(parts) <= depth and flops >= min_flops:
            by_module[".".join(parts)] = flops
    return total, by_module


def summarize(values: Sequence[float]) -> Dict[str, float]:
    """Median, min and max of the timed repeats."""
    return dict(median=statistics.median(values), min=min(values), max=max(values))


def _gib(value: Optional[int]) -> str:
    return "-" if value is None else f"{value / 2**30:.2f}"


def _fmt(stats: Optional[Dict[str, float]], unit: float = 1.0) -> str:
    if stats is None:
        return "-"
    return (
        f"{stats['median'] / unit:.3f} "
        f"[{stats['min'] / unit:.3f}, {stats['max'] / unit:.3f}]"
    )


def format_table(results: Sequence[Dict[str, object]]) -> str:
    """A Markdown table: one column per result (a failed variant shows its
    reason), plus the ratios when two variants ran."""
    rows = [
        ("device / threads", lambda r: f"{r['device']} / {r['threads']}"),
        ("params (M)", lambda r: f"{r['params'] / 1e6:.2f}"),
        (
            "GFLOPs / image (fwd)",
            lambda r: (
                f"{r['gflops_per_image']:.1f}" if "gflops_per_image" in r else "-"
            ),
        ),
        ("train step s, median [min, max]", lambda r: _fmt(r.get("train_step_s"))),
        (
            "train step CPU s (all threads), median [min, max]",
            lambda r: _fmt(r.get("train_step_cpu_s")),
        ),
        ("train peak memory (GiB)", lambda r: _gib(r.get("train_peak_bytes"))),
        (
            "inference s / image, median [min, max]",
            lambda r: _fmt(r.get("inference_s_per_image")),
        ),
        ("inference peak memory (GiB)", lambda r: _gib(r.get("inference_peak_bytes"))),
        (
            "total loss (last step)",
            lambda r: f"{r['losses']['loss']:.3f}" if "losses" in r else "-",
        ),
    ]
    names = [r.get("label") or f"cfm={r['cfm_attention']}" for r in results]
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(results) + 1) + "|"]
    for name, cell in rows:
        values = [r["failed"] if "failed" in r else cell(r) for r in results]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    done = [r for r in results if "failed" not in r and "train_step_s" in r]
    if len(results) == 2 and len(done) == 2:
        new, old = done
        time_ratio = new["train_step_s"]["median"] / old["train_step_s"]["median"]
        cpu_ratio = ""
        if "train_step_cpu_s" in new and "train_step_cpu_s" in old:
            ratio = (
                new["train_step_cpu_s"]["median"] / old["train_step_cpu_s"]["median"]
            )
            cpu_ratio = f", CPU time x{ratio:.2f}"
        mem_ratio = new["train_peak_bytes"] / old["train_peak_bytes"]
        lines.append(
            f"\n{names[0]} / {names[1]}: train step time x{time_ratio:.2f}"
            f"{cpu_ratio}, peak memory x{mem_ratio:.2f}"
        )
    return "\n".join(lines)
