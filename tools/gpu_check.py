"""The first run on a GPU machine: a config's training step at full size.

For fp32 and mixed precision (float16 with loss scaling on CUDA, bfloat16 on
CPU) it runs a few training steps of the config's model on a synthetic batch
and reports the step time, the peak memory, the loss and which
scaled-dot-product attention kernel the CFMs ran; it fails if one ran the
math kernel, which materialises the (HW x HW) affinity. Then one data-parallel
step in two processes (NCCL, one GPU each; ``--dist on`` on CPU: gloo),
skipped with a message on fewer than two GPUs. Example::

    python tools/gpu_check.py configs/mtcp_nyud.py            # on the GPU host
    python tools/gpu_check.py configs/mtcp_demo.py --device cpu \\
        --input-size 64 64 --batch-size 1 --steps 1            # what CI runs
"""

import argparse
import gc
import statistics
import sys
import time
from datetime import timedelta
from typing import Dict, List, Optional, Sequence

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import DictAction
from mmengine.model import MMDistributedDataParallel

import mtcp  # noqa: F401  (registers the modules)
from mtcp.utils.benchmarking import (
    GIB,
    build_benchmark_optim_wrapper,
    build_model,
    load_config,
    max_rss_bytes,
    synthetic_batch,
)

# The aten operator of each SDPA kernel (as torch.profiler names it).
SDPA_KERNELS = {
    "aten::_scaled_dot_product_flash_attention": "flash",
    "aten::_scaled_dot_product_efficient_attention": "memory-efficient",
    "aten::_scaled_dot_product_cudnn_attention": "cuDNN",
    "aten::_scaled_dot_product_flash_attention_for_cpu": "flash (CPU)",
    "aten::_scaled_dot_product_fused_attention_overrideable": "overrideable",
    "aten::_scaled_dot_product_attention_math": "math (materialises the affinity)",
}
MATERIALISING = ("math (materialises the affinity)",)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("config", nargs="?", default="configs/mtcp_nyud.py")
    add("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add("--input-size", type=int, nargs=2, default=(448, 576), metavar=("H", "W"))
    add("--batch-size", type=int, default=2, help="per process")
    add("--steps", type=int, default=3, help="timed steps after one warm-up")
    add("--dist", choices=("auto", "on", "off"), default="auto")
    add(
        "--dist-timeout",
        type=float,
        default=600.0,
        help="seconds the data-parallel step may take in all, and each of its "
        "collectives; past it the ranks are stopped and the check fails",
    )
    add("--cfg-options", nargs="+", action=DictAction)
    return parser.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sdpa_kernels(step) -> List[str]:
    """The SDPA kernels that ``step()`` ran (from the profiler's operators)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as p:
        step()
    return sorted({SDPA_KERNELS[e.name] for e in p.events() if e.name in SDPA_KERNELS})


def run_precision(args, cfg, amp: str) -> Dict[str, object]:
    """Warm-up (profiled for the SDPA kernels) and timed training steps."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(cfg, device).train()
    data = synthetic_batch(model, args.batch_size, args.input_size)
    wrapper = build_benchmark_optim_wrapper(model, cfg, amp)
    kernels = sdpa_kernels(lambda: model.train_step(data, wrapper))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.steps):
        _sync(device)
        start = time.perf_counter()
        log_vars = model.train_step(data, wrapper)
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = (
        torch.cuda.max_memory_allocated(device)
        if device.type == "cuda"
        else max_rss_bytes()
    )
    return dict(
        amp=amp,
        step_s=statistics.median(times),
        peak_gib=peak / GIB,
        loss=float(log_vars["loss"]),
        kernels=kernels,
    )


def check(result: Dict[str, object]) -> List[str]:
    """Why a precision's run fails: no SDPA kernel or a materialising one
    ran (the CFM built the affinity), or a non-finite loss."""
    failed, kernels = [], result["kernels"]
    if not kernels or set(kernels) & set(MATERIALISING):
        failed.append(f"{result['amp']}: SDPA kernel {', '.join(kernels) or 'none'}")
    if not torch.isfinite(torch.tensor(result["loss"])):
        failed.append(f"{result['amp']}: loss {result['loss']}")
    return failed


def _data_parallel_step(rank: int, args) -> Dict[str, object]:
    """A warm-up and a timed step of the config's model under DDP, then the
    spread of the weights across the ranks (0 when the updates agree)."""
    cuda = args.device.startswith("cuda")
    device = torch.device(f"cuda:{rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    cfg = load_config(args.config, args.cfg_options)
    torch.manual_seed(0)
    model = build_model(cfg, device)
    ddp = MMDistributedDataParallel(module=model, device_ids=[rank] if cuda else None)
    wrapper = build_benchmark_optim_wrapper(model, cfg)
    data = synthetic_batch(model, args.batch_size, args.input_size, seed=rank)
    ddp.train_step(data, wrapper)
    _sync(device)
    start = time.perf_counter()
    log_vars = ddp.train_step(data, wrapper)
    _sync(device)
    seconds = time.perf_counter() - start
    # after the all-reduced updates every rank holds the same weights
    total = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
    spread = torch.stack([total, -total])
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    return dict(
        step_s=seconds,
        loss=float(log_vars["loss"]),
        weights_differ=float(spread.sum()),
    )


def _dist_worker(rank: int, args, port: int, queue) -> None:
    """One process of the data-parallel step: NCCL on its GPU, gloo on CPU.

    Teardown order matters. The DDP wrapper is freed (on return from
    :func:`_data_parallel_step`) while the process group is still
    registered: had its reducer held the group's last reference, the group
    would be destroyed with the GIL held and could wait forever on a gloo
    thread that needs the GIL to release its last work. The rendezvous
    store is the parent's, so it outlives both ranks, and a rank destroys
    its group only once every rank has finished its collectives.
    """
    timeout = timedelta(seconds=args.dist_timeout)
    store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=timeout)
    dist.init_process_group(
        "nccl" if args.device.startswith("cuda") else "gloo",
        store=store,
        rank=rank,
        world_size=2,
        timeout=timeout,
    )
    result = _data_parallel_step(rank, args)
    gc.collect()
    if rank == 0:
        queue.put(result)
    store.set(f"finished/{rank}", "1")
    store.wait([f"finished/{r}" for r in range(2)])
    dist.destroy_process_group()


def join_within(context, seconds: float) -> None:
    """Wait for the ranks of the data-parallel step (``mp.spawn(...,
    join=False)``).

    A rank that fails raises its error here (``context.join``); if they
    have not all ended after ``seconds``, they are killed and the run stops
    with a message naming the limit.
    """
    deadline = time.monotonic() + seconds
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            for process in context.processes:
                process.join()
            raise SystemExit(
                f"the data-parallel step did not finish within {seconds:g} s "
                "(--dist-timeout); its processes were stopped"
            )


def run_distributed(args) -> Optional[Dict[str, object]]:
    """The 2-process step, or None (with a message) without two GPUs."""
    gpus = torch.cuda.device_count() if args.device.startswith("cuda") else 0
    if args.dist == "off" or (args.dist == "auto" and gpus < 2):
        print(f"data-parallel step skipped: --dist {args.dist}, {gpus} GPU(s)")
        return None
    if args.device.startswith("cuda") and gpus < 2:
        raise SystemExit(f"--dist on needs 2 GPUs, this machine has {gpus}")
    # the store listens on a port the system chose and it still holds
    store = dist.TCPStore(
        "127.0.0.1",
        0,
        is_master=True,
        wait_for_workers=False,
        timeout=timedelta(seconds=args.dist_timeout),
    )
    queue = mp.get_context("spawn").SimpleQueue()
    context = mp.spawn(
        _dist_worker, args=(args, store.port, queue), nprocs=2, join=False
    )
    join_within(context, args.dist_timeout)
    return queue.get()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    cuda = args.device.startswith("cuda")
    print(
        f"{args.config} on {args.device} (torch {torch.__version__}): input "
        f"{args.input_size[0]}x{args.input_size[1]}, batch {args.batch_size}, "
        f"{args.steps} timed steps"
    )
    print("| precision | step s (median) | peak GiB | loss | SDPA kernel |")
    print("|---|---|---|---|---|")
    failed = []
    for amp in ("none", "fp16" if cuda else "bf16"):
        r = run_precision(args, cfg, amp)
        kernels = ", ".join(r["kernels"]) or "none ran"
        print(
            f"| {amp} | {r['step_s']:.3f} | {r['peak_gib']:.2f} | {r['loss']:.4f} "
            f"| {kernels} |"
        )
        failed += check(r)
    if not cuda:
        print("(CPU peak: the process's RSS high-water mark, over both runs)")
    result = run_distributed(args)
    if result is not None:
        print(
            f"2-process step: {result['step_s']:.3f} s, loss {result['loss']:.4f}, "
            f"weights differ across ranks by {result['weights_differ']:.3g}"
        )
        if result["weights_differ"] != 0:
            failed.append("data-parallel: the ranks' weights differ")
    for reason in failed:
        print(f"FAILED {reason}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
