"""Training and inference cost of an MT-CP config on the current device.

Measures, for a config with a ``model`` field:

- the training step time: ``model.train_step`` (data preprocessor, forward,
  losses, backward, AdamW step), i.e. exactly what the training loop runs;
- the peak memory of training: ``torch.cuda.max_memory_allocated`` on CUDA;
  on CPU the process's resident-set high-water mark (``ru_maxrss``: model,
  optimizer state, batch and the step's activations). ``ru_maxrss`` never
  decreases within a process, so ``--compare-naive`` measures each variant in
  a fresh child process;
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
"""

import argparse
import json
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
    parser.add_argument(
        "--with-cp",
        action="store_true",
        help="activation checkpointing in the Swin backbone and the task decoders",
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
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    return args


def load_config(
    config: str,
    cfg_options: Optional[dict] = None,
    cfm_attention: Optional[str] = None,
    with_cp: bool = False,
) -> Config:
    """Read the config and apply the benchmark's overrides.

    The pretrained checkpoint is dropped: loading it changes no cost, and it
    may not be on disk.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = cfg.model
    if model.get("backbone") is not None:
        model.backbone.init_cfg = None
        if with_cp and model.backbone.get("type") == "SharedMask2Former":
            # A full Swin config or, with an `arch` preset, its overrides.
            model.backbone.backbone = dict(
                model.backbone.get("backbone") or {}, with_cp=True
            )
        elif with_cp:
            model.backbone.with_cp = True
    if with_cp and model.get("decoder") is not None:
        model.decoder.with_cp = True
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


def count_flops(model: nn.Module, data: dict) -> int:
    """Forward FLOPs of one image (tensor mode, eval, no grad)."""
    model.eval()
    one = dict(inputs=data["inputs"][:1], data_samples=data["data_samples"][:1])
    with torch.no_grad():
        inputs = model.data_preprocessor(one, False)["inputs"]
        counter = FlopCounterMode(display=False, custom_mapping=SDPA_CPU_FLOPS)
        with counter:
            model(inputs, mode="tensor")
    return int(counter.get_total_flops())


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
    optim_wrapper = build_optim_wrapper(model, args.amp, device)
    train = time_train_steps(
        model, data, optim_wrapper, args.warmup, args.repeats, device
    )
    result["train_step_s"] = summarize(train["times"])
    result["train_peak_bytes"] = train["peak_bytes"]
    result["losses"] = train["losses"]
    repeats = args.repeats if args.inference_repeats is None else args.inference_repeats
    if repeats > 0:
        result["inference_s_per_image"] = summarize(
            time_inference(model, data, args.warmup, repeats, device, args.amp)
        )
    if not args.no_flops:
        result["gflops_per_image"] = count_flops(model, data) / 1e9
    return result


def _child_command(args: argparse.Namespace, attention: str) -> List[str]:
    """This script's command line for one variant, run with ``--json``."""
    cmd = [sys.executable, __file__, args.config, "--json"]
    cmd += ["--input-size", *map(str, args.input_size)]
    cmd += ["--batch-size", str(args.batch_size), "--amp", args.amp]
    cmd += ["--warmup", str(args.warmup), "--repeats", str(args.repeats)]
    cmd += ["--device", args.device, "--seed", str(args.seed)]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    cmd += ["--cfm-attention", attention]
    if args.inference_repeats is not None:
        cmd += ["--inference-repeats", str(args.inference_repeats)]
    for flag in ("channels_last", "with_cp", "no_flops"):
        if getattr(args, flag):
            cmd.append("--" + flag.replace("_", "-"))
    if args.cfg_options:
        cmd.append("--cfg-options")
        cmd += _flatten_options(args.cfg_options)
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


def compare_naive(args: argparse.Namespace) -> List[Dict[str, object]]:
    """Measure both CFM attentions, each in a fresh process (the RSS peak of
    one must not hide the other's).

    A variant that fails (e.g. killed when it runs out of memory) is returned
    as ``dict(cfm_attention=..., failed=reason)`` so the other's figures are
    kept; each result is printed as JSON as soon as it is known.
    """
    results = []
    for attention in ("sdpa", "naive"):
        proc = subprocess.run(
            _child_command(args, attention), capture_output=True, text=True
        )
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            if proc.returncode < 0:
                # e.g. the out-of-memory killer
                reason = f"killed by signal {-proc.returncode}"
            else:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                reason = f"exit {proc.returncode}: {last}"
            result = dict(cfm_attention=attention, failed=reason)
        else:
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


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
        ("train step s, median [min, max]", lambda r: _fmt(r["train_step_s"])),
        ("train peak memory (GiB)", lambda r: f"{r['train_peak_bytes'] / 2**30:.2f}"),
        (
            "inference s / image, median [min, max]",
            lambda r: _fmt(r.get("inference_s_per_image")),
        ),
        ("total loss (last step)", lambda r: f"{r['losses']['loss']:.3f}"),
    ]
    names = [f"cfm={r['cfm_attention']}" for r in results]
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(results) + 1) + "|"]
    for name, cell in rows:
        values = [r["failed"] if "failed" in r else cell(r) for r in results]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    done = [r for r in results if "failed" not in r]
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
    results = compare_naive(args) if args.compare_naive else [run_benchmark(args)]
    if args.json:
        for result in results:
            print(json.dumps(result))
        return
    first = results[0]
    print(
        f"{first['config']}: input {first['input_size'][0]}x{first['input_size'][1]}, "
        f"batch {first['batch_size']}, amp {first['amp']}, channels_last "
        f"{first['channels_last']}, with_cp {first['with_cp']}, torch "
        f"{first['torch']}; {args.warmup} warm-up, {args.repeats} timed repeats"
    )
    print(format_table(results))


if __name__ == "__main__":
    main()
