"""Peak memory and time of one CFM forward + backward, SDPA against naive.

The CFM attends over every pixel of the stride-4 map. At NYUD-v2's training
size (448 x 576 -> 112 x 144 = 16,128 tokens) an explicit affinity holds
16,128^2 floats per image (1.04 GB; 2.08 GB for a batch of 2), which
``attention='naive'`` materialises and ``attention='sdpa'``
(``F.scaled_dot_product_attention``) does not.

Peak memory:
- CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation before the
  step (inputs and weights).
- CPU: every variant runs in a fresh child process; the figure is the rise of
  the process's resident-set high-water mark (``ru_maxrss``) over its value
  just before the step, i.e. what the step needed beyond the inputs and
  weights (a lower bound when the allocator reuses memory freed earlier).

Example::

    python tools/analysis_tools/benchmark_cfm.py
    python tools/analysis_tools/benchmark_cfm.py --device cuda --batch-size 2
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from mtcp.models.layers import CoherenceFusionModule

ATTENTIONS = ("sdpa", "naive")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attention", choices=ATTENTIONS + ("both",), default="both")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--height", type=int, default=112, help="of the stride-4 map")
    parser.add_argument("--width", type=int, default=144, help="of the stride-4 map")
    parser.add_argument("--num-aux", type=int, default=2, help="auxiliary tasks")
    parser.add_argument("--kv-downsample", type=int, default=1)
    parser.add_argument(
        "--child", action="store_true", help="internal: run one variant, print JSON"
    )
    return parser.parse_args(argv)


def max_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def measure(args: argparse.Namespace, attention: str) -> dict:
    """Run one forward + backward and return its peak memory and time."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    cfm = CoherenceFusionModule(
        args.channels,
        args.num_aux,
        kv_downsample=args.kv_downsample,
        attention=attention,
    ).to(device)
    shape = (args.batch_size, args.channels, args.height, args.width)
    main = torch.randn(shape, device=device, requires_grad=True)
    aux = [torch.randn(shape, device=device) for _ in range(args.num_aux)]

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    else:
        before = max_rss_bytes()
    start = time.perf_counter()
    out, loss = cfm(main, aux)
    (out.square().mean() + loss).backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
    else:
        peak = max_rss_bytes() - before
    return dict(
        attention=attention,
        device=str(device),
        tokens=args.height * args.width,
        peak_bytes=peak,
        seconds=time.perf_counter() - start,
    )


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(measure(args, args.attention)))
        return
    attentions = ATTENTIONS if args.attention == "both" else (args.attention,)
    tokens = args.height * args.width
    affinity = args.batch_size * tokens**2 * 4
    print(
        f"CFM forward+backward: batch {args.batch_size}, C={args.channels}, "
        f"{args.height}x{args.width} = {tokens} tokens, {args.num_aux} aux tasks, "
        f"kv_downsample {args.kv_downsample}, device {args.device}; "
        f"one materialised fp32 affinity: {affinity / 2**30:.2f} GiB"
    )
    for attention in attentions:
        # A fresh process per variant: the RSS high-water mark of one variant
        # must not hide the other's.
        cmd = [sys.executable, __file__, "--child", "--attention", attention]
        for key in (
            "device",
            "batch_size",
            "channels",
            "height",
            "width",
            "num_aux",
            "kv_downsample",
        ):
            cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
        result = subprocess.run(cmd, check=True, capture_output=True, text=True)
        stats = json.loads(result.stdout.strip().splitlines()[-1])
        print(
            f"  {attention:>5}: peak {stats['peak_bytes'] / 2**30:7.3f} GiB, "
            f"{stats['seconds']:7.2f} s"
        )


if __name__ == "__main__":
    main()
