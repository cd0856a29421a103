"""Measuring the cost of a config's model on synthetic data.

What the measuring tools (``tools/analysis_tools/benchmark.py``) share: the
config with every activation-checkpointing switch set, the model without
its pretrained weights, a synthetic training batch of every task, the
config's optimizer (optionally under autocast), the process's memory, the
forward FLOPs of one image, a run in a fresh process and the Markdown tables
of the results (also used by ``tools/benchmark_public.py``).
"""

import json
import os
import resource
import subprocess
import sys
from collections import defaultdict
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import AmpOptimWrapper, OptimWrapper, build_optim_wrapper
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from mtcp.engine.optim_wrappers import CPUAutocastOptimWrapper
from mtcp.structures import TASKS, MultiTaskDataSample
from mtcp.tasks import task_kind

from .config_lookup import find_config
from .malloc import apply_malloc_cfg

GIB = 2**30
AMP_DTYPES = dict(none=None, fp16=torch.float16, bf16=torch.bfloat16)
# Share of the synthetic labels' pixels without a label.
INVALID_FRACTION = 0.05


def set_checkpointing(model: Config, enabled: bool) -> None:
    """Set every activation checkpointing switch of a model config: Swin,
    the pixel and transformer decoders, the task decoders and, for MT-CP,
    the CFMs, SRMs, heads and losses (docs/model.md)."""
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
    config: str, cfg_options: Optional[dict] = None, with_cp: Optional[bool] = None
) -> Config:
    """Read ``config`` (a file or the name of an mtcp config, see
    :func:`~mtcp.utils.find_config`) with ``cfg_options`` merged; ``with_cp``
    True or False sets every checkpointing switch, None keeps the config's.
    The pretrained checkpoint is dropped (it changes no cost and may not be
    on disk); the config's ``env_cfg.malloc_mmap_threshold`` is applied to
    this process."""
    cfg = Config.fromfile(find_config(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    apply_malloc_cfg(cfg)
    if cfg.model.get("backbone") is not None:
        cfg.model.backbone.init_cfg = None
    if with_cp is not None:
        set_checkpointing(cfg.model, with_cp)
    return cfg


def build_model(cfg: Config, device: Union[str, torch.device] = "cpu") -> nn.Module:
    """``cfg.model`` with its own initialisation, on ``device``."""
    # init_weights logs every parameter at INFO to the current logger
    MMLogger.get_instance("mtcp_benchmarking", log_level="WARNING")
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(device)


def synthetic_batch(
    model: nn.Module, batch_size: int, size: Sequence[int], seed: int = 0
) -> dict:
    """A training batch as a data loader gives it: random uint8 images and
    a random label of every task of ``model`` (``model.tasks``,
    ``model.out_channels``) at ``size``, with :data:`INVALID_FRACTION` of
    each label's pixels set to the pad value of the task's kind."""

    generator = torch.Generator().manual_seed(seed)
    h, w = size
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=generator).byte())
        sample = MultiTaskDataSample(
            metainfo=dict(
                ori_shape=(h, w),
                img_shape=(h, w),
                pad_shape=(h, w),
                scale_factor=(1.0, 1.0),
                flip=False,
                flip_direction=None,
                tasks=list(model.tasks),
            )
        )
        for task in model.tasks:
            info, kind = TASKS[task], task_kind(task)
            invalid = torch.rand(1, h, w, generator=generator) < INVALID_FRACTION
            label = kind.random_label(model.out_channels[task], size, generator)
            label = label.masked_fill(invalid, kind.pad_value)
            setattr(sample, info.gt_field, PixelData(data=label))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def build_benchmark_optim_wrapper(
    model: nn.Module, cfg: Config, amp: str = "none"
) -> OptimWrapper:
    """The optimizer of ``cfg.optim_wrapper`` for ``model``; with ``amp``
    ('fp16', 'bf16') mixed precision: ``AmpOptimWrapper`` on CUDA,
    :class:`~mtcp.engine.CPUAutocastOptimWrapper` (bf16 only) on CPU."""
    if cfg.get("optim_wrapper") is None:
        raise ValueError(
            f"{cfg.filename} has no optim_wrapper: a training step needs the "
            "config's optimizer (give a full config such as configs/mtcp_demo.py)"
        )
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    dtype = AMP_DTYPES[amp]
    if dtype is None:
        return wrapper
    if next(model.parameters()).device.type != "cpu":
        return AmpOptimWrapper(optimizer=wrapper.optimizer, dtype=dtype)
    if dtype is torch.float16:
        raise ValueError(
            "--amp fp16 needs loss scaling, which mmengine only offers on "
            "CUDA-like devices; use --amp bf16 on CPU"
        )
    return CPUAutocastOptimWrapper(optimizer=wrapper.optimizer, dtype=dtype)


def max_rss_bytes() -> int:
    """The process's resident-set high-water mark (never decreases)."""
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def current_rss_bytes() -> int:
    """The resident set now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class SavedTensorTracker:
    """Charge every tensor autograd saves in a forward, once per storage, to
    the innermost module running: the activations saved for the backward
    by module. Parameters are weights and not charged, nor is what a
    checkpoint recomputes in the backward (transient).

    Args:
        model (nn.Module): The model whose modules are tracked.
        depth (int): Name parts kept for a row (``decoders.semseg.stages``
            at depth 2 is ``decoders.semseg``); the model's own code is
            ``(model)``.
    """

    def __init__(self, model: nn.Module, depth: int) -> None:
        self.model = model
        self.names = {
            m: ".".join(n.split(".")[:depth]) or "(model)"
            for n, m in model.named_modules()
        }
        self.stack: List[str] = []
        self.saved: Dict[str, int] = defaultdict(int)
        self.seen = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.rss_at_backward: Optional[int] = None

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if self.rss_at_backward is None and storage.data_ptr() not in self.seen:
            self.seen.add(storage.data_ptr())
            self.saved[self.stack[-1] if self.stack else "(model)"] += storage.nbytes()
        return tensor

    def _unpack(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.rss_at_backward is None:
            self.rss_at_backward = current_rss_bytes()
        return tensor

    def _enter(self, module: nn.Module, args) -> None:
        self.stack.append(self.names[module])

    def _exit(self, module: nn.Module, args, output) -> None:
        if self.stack:
            self.stack.pop()

    @contextmanager
    def track(self):
        """Record the saved tensors of what runs inside."""
        handles = []
        for module in self.model.modules():
            handles.append(module.register_forward_pre_hook(self._enter))
            handles.append(module.register_forward_hook(self._exit))
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack):
                yield
        finally:
            for handle in handles:
                handle.remove()


def _sdpa_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# FlopCounterMode counts the CUDA SDPA kernels but not the CPU flash kernel,
# which the CFM's attention runs on CPU: count it with the same formula.
SDPA_CPU_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops
}


def count_flops(
    model: nn.Module, data: dict, depth: int = 0, min_flops: float = 1e9
) -> Tuple[int, Dict[str, int]]:
    """Forward FLOPs of one image of ``data`` (tensor mode, eval, no grad; a
    multiply-add counts 2; element-wise ops, softmax and ``grid_sample`` are
    not counted).

    Returns:
        tuple: The total and, with ``depth`` > 0, the FLOPs of every module
        at most ``depth`` levels below the model (``cfms.semseg`` is at 2)
        that runs at least ``min_flops``.
    """
    model.eval()
    one = dict(inputs=data["inputs"][:1], data_samples=data["data_samples"][:1])
    counter = FlopCounterMode(
        display=False, custom_mapping=SDPA_CPU_FLOPS, depth=depth + 1
    )
    with torch.no_grad():
        inputs = model.data_preprocessor(one, False)["inputs"]
        with counter:
            model(inputs, mode="tensor")
    by_module = {}
    for name, ops in counter.get_flop_counts().items():
        # FlopCounterMode names modules `<ModelClass>.<attribute path>`.
        parts = name.split(".")[1:]
        flops = int(sum(ops.values()))
        if name != "Global" and 0 < len(parts) <= depth and flops >= min_flops:
            by_module[".".join(parts)] = flops
    return int(counter.get_total_flops()), by_module


def flops_by_part(model: nn.Module, data: dict) -> Tuple[int, Dict[str, int]]:
    """Forward FLOPs of one image of ``data`` (as :func:`count_flops`) split
    over the model's direct submodules (MT-CP: ``backbone``, ``decoders``,
    ``cfms``, ``srms``, ``heads``): every op is charged once, to the part
    whose outermost called module ran it; ``(model)`` holds the ops of the
    model's own code, if any. The parts add up to the total.
    """
    total, by_module = count_flops(model, data, depth=64, min_flops=0)
    parts: Dict[str, int] = defaultdict(int)
    for name, flops in by_module.items():
        path = name.split(".")
        # a container (ModuleDict) is never called: its children are outermost
        if not any(".".join(path[:i]) in by_module for i in range(1, len(path))):
            parts[path[0]] += flops
    if total != sum(parts.values()):
        parts["(model)"] = total - sum(parts.values())
    return total, dict(parts)


def params_by_part(model: nn.Module) -> Dict[str, int]:
    """Parameters of each direct submodule of ``model``."""
    return {
        name: sum(p.numel() for p in child.parameters())
        for name, child in model.named_children()
    }


def run_child(script: str, argv: List[str], label: str) -> Dict[str, object]:
    """Run ``script argv --child label`` (A or B of ``benchmark.py --compare``)
    in a fresh process (the RSS peak of one must not hide the other's) and
    return the result it prints as JSON; a failed run (e.g. killed when out
    of memory) is returned as ``dict(label, failed=reason)``."""
    cmd = [sys.executable, os.path.abspath(script), *argv, "--child", label]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode == 0:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    print(proc.stderr[-3000:], file=sys.stderr)
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    signal = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else None
    return dict(label=label, failed=signal or last)


# (title, result key, unit, decimals); timings: median [min, max] of the steps
ROWS = (
    ("device / threads", "device", None, None),
    ("params (M)", "params", 1e6, 2),
    ("train step s, median [min, max]", "train_step_s", 1, 3),
    ("train step CPU s (all threads), median [min, max]", "train_step_cpu_s", 1, 3),
    ("train peak memory (GiB)", "train_peak_bytes", GIB, 2),
    ("inference s / image, median [min, max]", "inference_s_per_image", 1, 3),
    ("inference peak memory (GiB)", "inference_peak_bytes", GIB, 2),
    ("CFM forward + backward s, median [min, max]", "cfm_s", 1, 3),
    ("CFM peak memory above its inputs (GiB)", "cfm_peak_bytes", GIB, 3),
    ("total loss (last step)", "loss", 1, 3),
)


def _cell(result: dict, key: str, unit: float, decimals: int) -> str:
    value = result.get(key, result.get("failed", "-"))
    if isinstance(value, dict):
        return "{median:.{d}f} [{min:.{d}f}, {max:.{d}f}]".format(d=decimals, **value)
    return value if isinstance(value, str) else f"{value / unit:.{decimals}f}"


def format_table(results: Sequence[Dict[str, object]]) -> str:
    """A Markdown table, a column per run (a failed one says why) and a row
    per figure some run has; for two runs, the ratios A / B."""
    names = [r["label"] or os.path.basename(r["config"]) for r in results]
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(results) + 1) + "|"]
    for title, key, *fmt in ROWS:
        if any(key in r for r in results):
            cells = " | ".join(_cell(r, key, *fmt) for r in results)
            lines.append(f"| {title} | {cells} |")
    if len(results) == 2:
        a, b = (
            {k: v["median"] if isinstance(v, dict) else v for k, v in r.items()}
            for r in results
        )
        ratios = ", ".join(
            f"{title.split(',')[0]} x{a[key] / b[key]:.2f}"
            for title, key, _, _ in ROWS[2:-1]
            if key in a and key in b and b[key]
        )
        lines += [f"\nA / B: {ratios}"] if ratios else []
    return "\n".join(lines)


def format_breakdown(result: Dict[str, object]) -> str:
    """Where the peak of the last training step went, a Markdown table."""
    parts, peak = result["breakdown"], result["train_peak_bytes"]
    saved = sorted(parts["saved"].items(), key=lambda kv: -kv[1])
    rows = [
        ("process before the model (Python, torch, mmcv)", parts["rss_start"]),
        ("weights", parts["weights"]),
        ("gradients", parts["gradients"]),
        ("optimizer state", parts["optimizer_state"]),
        ("activations saved for the backward (all)", sum(v for _, v in saved)),
    ]
    unattributed = peak - sum(v for _, v in rows)
    rows += [(f"- `{name}`", v) for name, v in saved if v >= 2**20]
    rows += [("unattributed (backward/optimizer transients, allocator)", unattributed)]
    rows += [("**peak RSS of the step**", peak)]
    lines = ["| part | GiB | share of peak |", "|---|---|---|"]
    lines += [f"| {n} | {v / GIB:.3f} | {100 * v / peak:.1f} % |" for n, v in rows]
    at_backward = parts["rss_at_backward"] or 0
    return "\n".join(
        lines + [f"\nRSS at the start of the backward: {at_backward / GIB:.3f} GiB"]
    )
