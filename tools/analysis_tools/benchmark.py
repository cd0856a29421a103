"""Time, memory and parameters of a config's model on this device.

On a synthetic batch, one of: training (default; ``--memory-breakdown N``
splits the last step's memory by module), ``--inference-only`` or
``--cfm-only`` (one CFM alone, forward and backward); ``--profile`` adds the
time of one more training step per component and phase (forward,
recomputation, backward); FLOPs: ``get_flops.py``. ``--compare`` runs A and
B each in a fresh process (on CPU the peak is the process's RSS high-water
mark, which never decreases). docs/benchmarks.md describes every figure and
option.

Example::

    python tools/analysis_tools/benchmark.py configs/mtcp_nyud.py \
        --input-size 448 576 --batch-size 2 --compare --compare-no-cp
"""

import argparse
import json
import statistics
import sys
import time
from contextlib import nullcontext
from typing import Dict, Optional, Sequence

import torch
from mmengine.config import DictAction
from mmseg.registry import MODELS

import mtcp  # noqa: F401  (registers the modules)
from mtcp.utils.benchmarking import (
    AMP_DTYPES,
    SavedTensorTracker,
    build_benchmark_optim_wrapper,
    build_model,
    current_rss_bytes,
    format_breakdown,
    format_table,
    load_config,
    max_rss_bytes,
    run_child,
    synthetic_batch,
)
from mtcp.utils.profiling import format_profile, peak_gflops, profile_step


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("config", help="a config with a model (and, to train, an optim_wrapper)")
    add("--input-size", type=int, nargs=2, default=(448, 576), metavar=("H", "W"))
    add("--batch-size", type=int, default=2)
    add("--amp", choices=list(AMP_DTYPES), default="none")
    add("--with-cp", action="store_const", const=True, dest="with_cp")
    add("--no-cp", action="store_const", const=False, dest="with_cp")
    add("--warmup", type=int, default=1, help="untimed steps first")
    add("--repeats", type=int, default=3, help="timed steps")
    add("--inference-only", action="store_true")
    add("--cfm-only", action="store_true")
    add("--memory-breakdown", type=int, default=0, metavar="N")
    add("--profile", action="store_true", help="per component (torch.profiler)")
    add("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add("--cfg-options", nargs="+", action=DictAction)
    add("--compare", nargs="?", const="", default=None, metavar="CONFIG_B")
    add("--compare-options", nargs="+", action=DictAction, help="B's, over A's")
    add("--compare-no-cp", action="store_true", help="B without checkpointing")
    add("--child", choices=("A", "B"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    if args.compare is None and (args.compare_options or args.compare_no_cp):
        parser.error("--compare-options and --compare-no-cp need --compare")
    if args.inference_only and args.cfm_only:
        parser.error("--inference-only and --cfm-only exclude each other")
    if (args.memory_breakdown or args.profile) and (
        args.inference_only or args.cfm_only
    ):
        parser.error("--memory-breakdown and --profile measure a training step")
    if args.memory_breakdown and args.device != "cpu":
        parser.error("--memory-breakdown splits the process's RSS: --device cpu")
    return args


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return max_rss_bytes()


def _stats(values: Sequence[float]) -> Dict[str, float]:
    return dict(median=statistics.median(values), min=min(values), max=max(values))


def measure_training(args, cfg, model, data, device, rss_start) -> Dict[str, object]:
    """Time ``model.train_step``; ``--memory-breakdown`` tracks the last
    (``rss_start``: the resident set read before the model was built);
    ``--profile`` profiles one more step."""
    optim_wrapper = build_benchmark_optim_wrapper(model, cfg, args.amp)
    tracker = SavedTensorTracker(model, args.memory_breakdown or 1)
    times, cpu_times = [], []
    model.train()
    for i in range(args.warmup + args.repeats):
        last = i == args.warmup + args.repeats - 1
        _sync(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        with tracker.track() if last and args.memory_breakdown else nullcontext():
            log_vars = model.train_step(data, optim_wrapper)
        _sync(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    result = dict(
        train_step_s=_stats(times),
        train_step_cpu_s=_stats(cpu_times),
        # Linux's RSS counters are per-CPU caches: the high-water mark may
        # lag a reading of /proc/self/statm by a few hundred KiB, so it
        # covers the readings taken here too
        train_peak_bytes=max(
            _peak(device), tracker.rss_at_backward or 0, rss_start or 0
        ),
        loss=float(log_vars["loss"]),
    )
    if args.profile:
        # one more step, under the profiler: its cost in time and the memory
        # of its recorded events stay out of the figures above
        _, profile = profile_step(lambda: model.train_step(data, optim_wrapper), model)
        result["profile"] = dict(profile, peak_gflops=peak_gflops())
    if args.memory_breakdown:
        state = optim_wrapper.optimizer.state.values()
        trainable = [p for p in model.parameters() if p.requires_grad]
        result["breakdown"] = dict(
            weights=sum(p.nbytes for p in model.parameters()),
            gradients=sum(p.nbytes for p in trainable),
            optimizer_state=sum(
                t.nbytes for s in state for t in s.values() if torch.is_tensor(t)
            ),
            saved=dict(tracker.saved),
            rss_at_backward=tracker.rss_at_backward,
            rss_start=rss_start,
        )
    return result


def measure_inference(args, model, data, device) -> Dict[str, object]:
    """Seconds per image of ``model.test_step`` (autocast with --amp)."""
    dtype = AMP_DTYPES[args.amp]
    autocast = torch.autocast(device.type, dtype) if dtype else nullcontext()
    times = []
    model.eval()
    with torch.no_grad(), autocast:
        for i in range(args.warmup + args.repeats):
            _sync(device)
            start = time.perf_counter()
            model.test_step(data)
            _sync(device)
            if i >= args.warmup:
                times.append((time.perf_counter() - start) / len(data["inputs"]))
    return dict(inference_s_per_image=_stats(times), inference_peak_bytes=_peak(device))


def measure_cfm(args, cfg, device) -> Dict[str, object]:
    """One CFM of the config (its task decoders' channels, one auxiliary
    map per other task), forward + backward on random maps at stride 4. The
    peak is the rise over the memory before the steps; on CPU that of the
    high-water mark, which a warm-up step would already have raised."""
    cfm_cfg = dict(cfg.model.get("cfm") or {}, type="CoherenceFusionModule")
    cfm_cfg.pop("coherence_weight", None)
    cfm_cfg.update(channels=cfg.model.decoder.in_channels)
    cfm = MODELS.build(dict(cfm_cfg, num_aux=len(cfg.model.tasks) - 1)).to(device)
    shape = (args.batch_size, cfm.channels, *(s // 4 for s in args.input_size))
    main = torch.randn(shape, device=device, requires_grad=True)
    aux = [torch.randn(shape, device=device) for _ in range(cfm.num_aux)]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device) if device.type == "cuda" else None
    before = max_rss_bytes() if before is None else before
    times = []
    for i in range(args.warmup + args.repeats):
        start = time.perf_counter()
        out, loss = cfm(main, aux)
        (out.square().mean() + loss).backward()
        _sync(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    params = sum(p.numel() for p in cfm.parameters())
    return dict(
        params=params, cfm_s=_stats(times), cfm_peak_bytes=_peak(device) - before
    )


def run_benchmark(args: argparse.Namespace) -> Dict[str, object]:
    """Measure in this process: the command's run, or its A or B."""
    rss_start = current_rss_bytes() if args.memory_breakdown else None
    device = torch.device(args.device)
    torch.manual_seed(0)
    config, options, with_cp = args.config, dict(args.cfg_options or {}), args.with_cp
    if args.child == "B":
        config = args.compare or config
        options.update(args.compare_options or {})
        with_cp = False if args.compare_no_cp else with_cp
    cfg = load_config(config, options, with_cp)
    result = dict(label=args.child, config=config, with_cp=with_cp)
    result["device"] = f"{device} / {torch.get_num_threads()}"
    if args.cfm_only:
        return dict(result, **measure_cfm(args, cfg, device))
    model = build_model(cfg, device)
    result["params"] = sum(p.numel() for p in model.parameters())
    data = synthetic_batch(model, args.batch_size, args.input_size)
    if args.inference_only:
        result.update(measure_inference(args, model, data, device))
    else:
        result.update(measure_training(args, cfg, model, data, device, rss_start))
    return result


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_benchmark(args)))
        return
    if args.compare is None:
        results = [run_benchmark(args)]
    else:
        results = [run_child(__file__, argv, label) for label in "AB"]
    print(
        f"{args.config}: input {args.input_size[0]}x{args.input_size[1]}, batch "
        f"{args.batch_size}, amp {args.amp}, {args.warmup} warm-up and "
        f"{args.repeats} timed steps, torch {torch.__version__}"
    )
    print(format_table(results))
    for result in results:
        if "breakdown" in result:
            print("\n" + format_breakdown(result))
        if "profile" in result:
            profile = result["profile"]
            print("\n" + format_profile(profile, profile["peak_gflops"]))


if __name__ == "__main__":
    main()
