"""CPU latency and peak memory: PyTorch (fp32, bf16 autocast) against ONNX Runtime.

Usage::

    python tools/deployment/benchmark_onnx.py CONFIG [CHECKPOINT] --onnx MODEL.onnx
        [--image IMG | --size H W] [--runs N] [--warmup N] [--threads N]
        [--backends B ...] [--cfg-options KEY=VALUE ...]

Each backend runs in a fresh process on the same image: ``pytorch-fp32``
and ``pytorch-bf16`` (``torch.autocast('cpu', torch.bfloat16)``; only where
the CPU has native bf16, AVX512-BF16 or AMX, else it is reported as
skipped) predict with ``mtcp.apis.inference_model``; ``onnxruntime`` with
``tools/deployment/onnx_infer.py``, which imports neither torch nor mtcp.
Both include the preprocessing and the crop to the image, not the saving.
Latency is per image (batch 1) after the warm-up runs; peak memory is the
process's maximum resident set size, libraries and weights included.
Prints a Markdown table with the machine and the command.
"""

import argparse
import json
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, List, Optional, Sequence

import cv2
import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
BACKENDS = ("pytorch-fp32", "pytorch-bf16", "onnxruntime")
RESULT = "BENCHMARK-RESULT "


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="CPU latency and peak memory of PyTorch and ONNX Runtime"
    )
    parser.add_argument("config", help="model config file")
    parser.add_argument(
        "checkpoint", nargs="?", help="checkpoint (default: initial weights)"
    )
    parser.add_argument("--onnx", required=True, help="the exported .onnx file")
    image = parser.add_mutually_exclusive_group()
    image.add_argument("--image", help="image file to predict")
    image.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=(480, 640),
        metavar=("H", "W"),
        help="size of the seeded test image used without --image (480 640)",
    )
    parser.add_argument("--runs", type=int, default=10, help="timed runs (10)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up runs (2)")
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads of both (1)"
    )
    parser.add_argument(
        "--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS)
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override config settings (as tools/deployment/pytorch2onnx.py)",
    )
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--runs and --threads must be >= 1, --warmup >= 0")
    return args


def bf16_supported() -> bool:
    """Whether this CPU runs bf16 natively (oneDNN's check: AVX512-BF16/AMX)."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def pytorch_predictor(args: argparse.Namespace, bf16: bool) -> Callable:
    import torch
    from mmengine.config import Config, DictAction

    from mtcp.apis import inference_model, init_model

    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        options = argparse.ArgumentParser()
        options.add_argument("--o", nargs="+", action=DictAction)
        cfg.merge_from_dict(options.parse_args(["--o", *args.cfg_options]).o)
    model = init_model(cfg, args.checkpoint, device="cpu")

    def predict(image: np.ndarray) -> None:
        rgb = np.ascontiguousarray(image[..., ::-1])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            inference_model(model, rgb)

    return predict


def onnx_predictor(args: argparse.Namespace) -> Callable:
    from onnx_infer import OnnxMultiTaskModel

    return OnnxMultiTaskModel(args.onnx, threads=args.threads).predict


def worker(args: argparse.Namespace) -> dict:
    """Time one backend in this process; returns its figures."""
    from onnx_infer import read_image

    image = read_image(args.image)
    if args.worker == "onnxruntime":
        predict = onnx_predictor(args)
    else:
        predict = pytorch_predictor(args, bf16=args.worker == "pytorch-bf16")
    for _ in range(args.warmup):
        predict(image)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        predict(image)
        times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return dict(
        backend=args.worker,
        median_ms=1000 * statistics.median(times),
        min_ms=1000 * min(times),
        peak_mib=peak_kib / 1024,
    )


def run_worker(args: argparse.Namespace, backend: str) -> dict:
    """Run one backend on ``args.image`` in a fresh process; its figures."""
    argv = [args.config] + ([args.checkpoint] if args.checkpoint else [])
    for key in ("onnx", "image", "runs", "warmup", "threads"):
        argv += [f"--{key}", str(getattr(args, key))]
    if args.cfg_options:
        argv += ["--cfg-options", *args.cfg_options]
    proc = subprocess.run(
        [sys.executable, osp.abspath(__file__), *argv, "--worker", backend],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)),
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith(RESULT)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"the {backend} benchmark failed (status {proc.returncode}):\n"
            + proc.stderr[-3000:]
        )
    return json.loads(lines[-1][len(RESULT) :])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    if osp.isfile("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            names = [
                x.split(":", 1)[1].strip() for x in f if x.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"


def main(argv: Optional[Sequence[str]] = None) -> List[dict]:
    args = parse_args(argv)
    if args.worker:
        print(RESULT + json.dumps(worker(args)))
        return []
    with tempfile.TemporaryDirectory() as tmp:
        if args.image is None:
            from pytorch2onnx import verification_image

            args.image = osp.join(tmp, "image.png")
            cv2.imwrite(args.image, verification_image(*args.size))
        h, w = cv2.imread(args.image).shape[:2]
        rows = []
        for backend in args.backends:
            if backend == "pytorch-bf16" and not bf16_supported():
                rows.append(dict(backend=backend, skipped="no native bf16 on this CPU"))
                continue
            rows.append(run_worker(args, backend))
    print(
        f"{h}x{w} image, batch 1, {args.threads} thread(s), {args.runs} runs after "
        f"{args.warmup} warm-up; {machine()}"
    )
    print("| backend | median latency (ms) | min (ms) | peak memory (MiB) |")
    print("|---|---|---|---|")
    for row in rows:
        if "skipped" in row:
            print(f"| {row['backend']} | skipped: {row['skipped']} | | |")
        else:
            print(
                f"| {row['backend']} | {row['median_ms']:.1f} | {row['min_ms']:.1f} "
                f"| {row['peak_mib']:.0f} |"
            )
    return rows


if __name__ == "__main__":
    main()
