"""Training and inference cost of an MT-CP config on the current device.

Measures, for a config with a ``model`` field, the training step time
(``model.train_step``: data preprocessor, forward, losses, backward, AdamW
step), the peak memory of training (``torch.cuda.max_memory_allocated`` on
CUDA; on CPU the process's resident-set high-water mark ``ru_maxrss``, which
never decreases within a process: ``--compare`` and ``--compare-naive``
measure each run in a fresh child process, ``--inference-only`` inference
alone), the inference time per image (``model.test_step``), the parameters
and the forward FLOPs per image (:class:`torch.utils.flop_counter.FlopCounterMode`;
a multiply-add counts 2; element-wise ops, softmax and ``grid_sample`` are not
counted). The batch is synthetic (``benchmark_batch.py``); no pretrained
weights are loaded. docs/benchmarks.md describes every figure.

Example::

    python tools/analysis_tools/benchmark.py configs/_base_/models/mtcp.py \
        --input-size 448 576 --batch-size 2 --compare-naive
    # the config as shipped (A) against itself without checkpointing (B)
    python tools/analysis_tools/benchmark.py configs/mtcp_nyud.py \
        --compare --compare-no-cp
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import DictAction

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_batch import load_batch, make_batch, save_batch  # noqa: E402
from benchmark_core import (  # noqa: E402
    AMP_DTYPES,
    SDPA_CPU_FLOPS,
    build_model,
    build_optim_wrapper,
    count_flops,
    count_parameters,
    format_table,
    load_config,
    max_rss_bytes,
    model_batch_parser,
    set_checkpointing,
    summarize,
    time_inference,
    time_train_steps,
)

# Re-exported: the tests and memory_breakdown.py use them from here.
__all__ = [
    "SDPA_CPU_FLOPS",
    "build_model",
    "build_optim_wrapper",
    "count_flops",
    "format_table",
    "load_config",
    "make_batch",
    "max_rss_bytes",
    "model_batch_parser",
    "set_checkpointing",
]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = model_batch_parser(__doc__.split("\n")[0])
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
    parser.add_argument("--save-batch", metavar="FILE", help="write the batch to FILE")
    parser.add_argument("--batch-file", metavar="FILE", help="measure FILE's batch")
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


def run_benchmark(args: argparse.Namespace) -> Dict[str, object]:
    """Measure one configuration of the model in this process."""
    device = torch.device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = load_config(args.config, args.cfg_options, args.cfm_attention, args.with_cp)
    model = build_model(cfg, device, args.channels_last)
    if args.batch_file:
        data = load_batch(args.batch_file, model)
    else:
        data = make_batch(model, args.batch_size, args.input_size, args.seed)
    if args.save_batch:
        save_batch(data, args.save_batch)
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
        result["train_step_cpu_s"] = summarize(train["cpu_times"])
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
    with tempfile.TemporaryDirectory() as tmp:
        # B measures A's batch (which B's checkout may not know how to make)
        batch = str(Path(tmp) / "batch.pth")
        cmd_a = _child_command(args, label="A") + ["--save-batch", batch]
        run_a = run_child(cmd_a, "A")
        cmd_b = _child_command(
            args,
            config=config_b,
            cfg_options=options_b,
            with_cp=False if args.compare_no_cp else None,
            label=label_b,
        )
        if "failed" not in run_a:
            cmd_b += ["--batch-file", batch]
        return [run_a, run_child(cmd_b, label_b, args.compare_pythonpath)]


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
