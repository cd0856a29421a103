"""Training and inference cost of an MT-CP config on the current device.

Measures, for a config with a ``model`` field:

- the training step time: ``model.train_step`` (data preprocessor, forward,
  losses, backward, AdamW step), i.e. exactly what the training loop runs;
- the peak memory of training: ``torch.cuda.max_memory_allocated`` on CUDA;
  on CPU the process's resident-set high-water mark (``ru_maxrss``: model,
  optimizer state, batch and the step's activations). ``ru_maxrss`` never
  decreases within a process, so ``--compare`` and ``--compare-naive``
  measure each run in a fresh child process, and ``--inference-only``
  measures the peak of inference alone;
- the inference time per image (``model.test_step``, eval mode, no grad);
- the parameters and the forward FLOPs per image, counted by
  :class:`torch.utils.flop_counter.FlopCounterMode` on the tensor-mode forward
  (a multiply-add counts 2 FLOPs; matmuls, convolutions and SDPA, including
  PyTorch's CPU flash kernel, are counted; element-wise ops, softmax and
  ``grid_sample``, which carries the deformable attention of the pixel decoder
  on CPU, are not).

The batch is synthetic: random images and random valid labels of every task
of the model (``docs/design.md``); no pretrained weights are loaded.

Example::

    python tools/analysis_tools/benchmark.py configs/_base_/models/mtcp.py \
        --input-size 448 576 --batch-size 2 --compare-naive
    python tools/analysis_tools/benchmark.py configs/_base_/models/mtcp.py \
        --amp bf16 --with-cp --device cuda
    # the config as shipped (A) against itself without checkpointing (B)
    python tools/analysis_tools/benchmark.py configs/mtcp_nyud.py \
        --compare --compare-no-cp
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

import mtcp  # noqa: F401  (registers the modules)
from mtcp.structures import TASKS, MultiTaskDataSample

AMP_DTYPES = dict(none=None, fp16=torch.float16, bf16=torch.bfloat16)
# Share of pixels given the ignore / invalid value in the synthetic labels.
INVALID_FRACTION = 0.05


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", help="config file with a `model` field")
    parser.add_argument(
        "--input-size", type=int, nargs=2, default=(448, 576), metavar=("H", "W")
    )
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--amp", choices=list(AMP_DTYPES), default="none")
    parser.add_argument(
        "--channels-last", action="store_true", help="channels-last memory format"
    )
    cp = parser.add_mutually_exclusive_group()
    cp.add_argument(
        "--with-cp",
        action="store_const",
        const=True,
        dest="with_cp",
        help="every activation checkpointing switch of the model on",
    )
    cp.add_argument(
        "--no-cp",
        action="store_const",
        const=False,
        dest="with_cp",
        help="every activation checkpointing switch of the model off",
    )
    parser.add_argument(
        "--cfm-attention",
        choices=("sdpa", "naive"),
        default=None,
        help="override model.cfm.attention (default: the config's)",
    )
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--inference-repeats",
        type=int,
        default=None,
        help="timed test steps (default: --repeats; 0 skips inference)",
    )
    parser.add_argument("--no-flops", action="store_true", help="skip FLOPs")
    parser.add_argument(
        "--flops-depth",
        type=int,
        default=0,
        metavar="N",
        help="also list the forward FLOPs of the modules N levels deep "
        "(those above 1 GFLOP)",
    )
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="cpu, cuda or cuda:N",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--compare-naive",
        action="store_true",
        help="measure attention='sdpa' and 'naive', each in a fresh process",
    )
    parser.add_argument(
        "--compare",
        nargs="?",
        const="",
        default=None,
        metavar="CONFIG_B",
        help="run A (this config) and B (CONFIG_B, default the same config) "
        "each in a fresh process, one after the other, and print A / B",
    )
    parser.add_argument(
        "--compare-options",
        nargs="+",
        action=DictAction,
        help="cfg options of run B only (applied after --cfg-options)",
    )
    parser.add_argument(
        "--compare-no-cp",
        action="store_true",
        help="run B with every checkpointing switch off (run A: --with-cp / "
        "--no-cp or the config's)",
    )
    parser.add_argument(
        "--compare-pythonpath",
        default=None,
        metavar="DIR",
        help="PYTHONPATH of run B, e.g. another checkout of mtcp",
    )
    parser.add_argument(
        "--inference-only",
        action="store_true",
        help="no training: the peak memory is that of inference",
    )
    parser.add_argument("--label", default=None, help="the run's column name")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    if args.compare is not None and args.compare_naive:
        parser.error("--compare and --compare-naive exclude each other")
    if args.compare is None and (
        args.compare_options or args.compare_no_cp or args.compare_pythonpath
    ):
        parser.error("--compare-options/-no-cp/-pythonpath need --compare")
    return args


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


def _random_label(
    task: str, num_classes: int, size: Sequence[int], generator: torch.Generator
) -> torch.Tensor:
    """One valid label map of ``task`` in the packed layout of docs/design.md."""
    info = TASKS[task]
    h, w = size
    invalid = torch.rand(1, h, w, generator=generator) < INVALID_FRACTION
    if info.kind == "depth":
        depth = 0.5 + 9.5 * torch.rand(1, h, w, generator=generator)
        return depth.masked_fill(invalid, 0.0)
    if info.kind == "normals":
        normals = torch.nn.functional.normalize(
            torch.randn(3, h, w, generator=generator), dim=0
        )
        return normals.masked_fill(invalid, 0.0)
    high = num_classes if info.kind == "class" else 2
    label = torch.randint(0, high, (1, h, w), generator=generator)
    return label.masked_fill(invalid, info.pad_value)


def make_batch(model: nn.Module, batch_size: int, size: Sequence[int], seed: int = 0):
    """A training batch as a data loader gives it: uint8 images and samples
    carrying every task's label at the input size."""
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
            label = _random_label(task, model.out_channels[task], size, generator)
            setattr(sample, TASKS[task].gt_field, PixelData(data=label))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


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
    """Time ``model.train_step``; returns the seconds of each timed step, the
    last step's losses and the peak memory of training."""
    model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(warmup + repeats):
        _sync(device)
        start = time.perf_counter()
        log_vars = model.train_step(data, optim_wrapper)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = max_rss_bytes()
    losses = {k: float(v) for k, v in log_vars.items()}
    return dict(times=times, peak_bytes=peak, losses=losses)


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


def run_benchmark(args: argparse.Namespace) -> Dict[str, object]:
    """Measure one configuration of the model in this process."""
    device = torch.device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = load_config(args.config, args.cfg_options, args.cfm_attention, args.with_cp)
    model = build_model(cfg, device, args.channels_last)
    data = make_batch(model, args.batch_size, args.input_size, args.seed)
    result = dict(
        label=args.label,
        config=args.config,
        device=str(device),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        input_size=list(args.input_size),
        batch_size=args.batch_size,
        amp=args.amp,
        channels_last=args.channels_last,
        with_cp=args.with_cp,
        cfm_attention=(cfg.model.get("cfm") or {}).get("attention", "sdpa"),
        **count_parameters(model),
    )
    if device.type == "cpu":
        result["rss_after_build_bytes"] = max_rss_bytes()
    if not args.inference_only:
        optim_wrapper = build_optim_wrapper(model, args.amp, device)
        train = time_train_steps(
            model, data, optim_wrapper, args.warmup, args.repeats, device
        )
        result["train_step_s"] = summarize(train["times"])
        result["train_peak_bytes"] = train["peak_bytes"]
        result["losses"] = train["losses"]
    repeats = args.repeats if args.inference_repeats is None else args.inference_repeats
    if args.inference_only:
        repeats = max(repeats, 1)
    if repeats > 0:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        result["inference_s_per_image"] = summarize(
            time_inference(model, data, args.warmup, repeats, device, args.amp)
        )
        if args.inference_only:
            result["inference_peak_bytes"] = (
                torch.cuda.max_memory_allocated(device)
                if device.type == "cuda"
                else max_rss_bytes()
            )
    if not args.no_flops:
        if args.flops_depth > 0:
            total, by_module = count_flops(model, data, args.flops_depth)
            result["gflops_by_module"] = {k: v / 1e9 for k, v in by_module.items()}
        else:
            total = count_flops(model, data)
        result["gflops_per_image"] = total / 1e9
    return result


def _child_command(
    args: argparse.Namespace,
    attention: Optional[str] = None,
    config: Optional[str] = None,
    cfg_options: Optional[dict] = None,
    with_cp: Optional[bool] = None,
    label: Optional[str] = None,
) -> List[str]:
    """This script's command line for one run, with ``--json``: ``args``
    with the given overrides (``cfg_options`` replaces ``--cfg-options``,
    ``with_cp`` None keeps ``args.with_cp``)."""
    cmd = [sys.executable, __file__, config or args.config, "--json"]
    cmd += ["--input-size", *map(str, args.input_size)]
    cmd += ["--batch-size", str(args.batch_size), "--amp", args.amp]
    cmd += ["--warmup", str(args.warmup), "--repeats", str(args.repeats)]
    cmd += ["--device", args.device, "--seed", str(args.seed)]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    attention = attention or args.cfm_attention
    if attention is not None:
        cmd += ["--cfm-attention", attention]
    if args.inference_repeats is not None:
        cmd += ["--inference-repeats", str(args.inference_repeats)]
    for flag in ("channels_last", "no_flops", "inference_only"):
        if getattr(args, flag):
            cmd.append("--" + flag.replace("_", "-"))
    with_cp = args.with_cp if with_cp is None else with_cp
    if with_cp is not None:
        cmd.append("--with-cp" if with_cp else "--no-cp")
    if label is not None:
        cmd += ["--label", label]
    cfg_options = args.cfg_options if cfg_options is None else cfg_options
    if cfg_options:
        cmd.append("--cfg-options")
        cmd += _flatten_options(cfg_options)
    return cmd


def _flatten_options(options: dict, prefix: str = "") -> List[str]:
    """``--cfg-options`` as ``key=value`` strings that DictAction parses back
    (nested dicts become dotted keys, lists ``[a,b]``, strings quoted)."""
    items = []
    for key, value in options.items():
        if isinstance(value, dict):
            items += _flatten_options(value, f"{prefix}{key}.")
        else:
            items.append(f"{prefix}{key}={_option_value(value)}")
    return items


def _option_value(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_option_value(v) for v in value) + "]"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def run_child(
    cmd: List[str], label: str, pythonpath: Optional[str] = None
) -> Dict[str, object]:
    """Run one measurement in a fresh process (the RSS peak of one run must
    not hide another's) and print its JSON as soon as it is known.

    A run that fails (e.g. killed when it runs out of memory) is returned as
    ``dict(label=..., failed=reason)`` so the other runs' figures are kept.
    """
    env = None
    if pythonpath is not None:
        env = dict(os.environ, PYTHONPATH=pythonpath)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        if proc.returncode < 0:
            # e.g. the out-of-memory killer
            reason = f"killed by signal {-proc.returncode}"
        else:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            reason = f"exit {proc.returncode}: {last}"
        result = dict(label=label, failed=reason)
    else:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["label"] = label
    print(json.dumps(result), flush=True)
    return result


def compare_naive(args: argparse.Namespace) -> List[Dict[str, object]]:
    """Measure both CFM attentions, each in a fresh process."""
    return [
        run_child(_child_command(args, attention), f"cfm={attention}")
        for attention in ("sdpa", "naive")
    ]


def compare_runs(args: argparse.Namespace) -> List[Dict[str, object]]:
    """Run A (``args``) and B (``--compare`` CONFIG_B, ``--compare-options``
    over ``--cfg-options``, ``--compare-no-cp``, ``--compare-pythonpath``),
    each in a fresh process, A first."""
    options_b = dict(args.cfg_options or {})
    options_b.update(args.compare_options or {})
    config_b = args.compare or args.config
    label_b = "B"
    if args.compare_pythonpath:
        label_b += f" (PYTHONPATH={args.compare_pythonpath})"
    if args.compare_no_cp:
        label_b += " no-cp"
    run_a = run_child(_child_command(args, label="A"), "A")
    cmd_b = _child_command(
        args,
        config=config_b,
        cfg_options=options_b,
        with_cp=False if args.compare_no_cp else None,
        label=label_b,
    )
    return [run_a, run_child(cmd_b, label_b, args.compare_pythonpath)]


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
        mem_ratio = new["train_peak_bytes"] / old["train_peak_bytes"]
        lines.append(
            f"\n{names[0]} / {names[1]}: train step time x{time_ratio:.2f}, "
            f"peak memory x{mem_ratio:.2f}"
        )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.compare is not None:
        results = compare_runs(args)
    elif args.compare_naive:
        results = compare_naive(args)
    else:
        results = [run_benchmark(args)]
    if args.json:
        for result in results:
            print(json.dumps(result))
        return
    first = next((r for r in results if "failed" not in r), None)
    if first is None:
        print(format_table(results))
        return
    print(
        f"{first['config']}: input {first['input_size'][0]}x{first['input_size'][1]}, "
        f"batch {first['batch_size']}, amp {first['amp']}, channels_last "
        f"{first['channels_last']}, with_cp {first['with_cp']}, torch "
        f"{first['torch']}; {args.warmup} warm-up, {args.repeats} timed repeats"
    )
    print(format_table(results))
    for result in results:
        if result.get("gflops_by_module"):
            print(
                f"\nforward GFLOPs / image by module ({result.get('label') or 'run'})"
            )
            for name, gflops in result["gflops_by_module"].items():
                print(f"  {name}: {gflops:.1f}")


if __name__ == "__main__":
    main()
