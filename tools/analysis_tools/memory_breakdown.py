"""Where the memory of one MT-CP training step goes.

Runs ``model.train_step`` (AdamW, as ``benchmark.py``) on a synthetic batch
and splits the step's memory into:

- weights, gradients and AdamW state (two moments), from the parameters;
- the activations saved for the backward, per module: every tensor that
  autograd packs during the forward (``torch.autograd.graph.
  saved_tensors_hooks``) is charged, once per storage, to the innermost
  module running at that moment, grouped by the first ``--depth`` parts of
  its name (e.g. ``decoders.semseg``). Parameters that autograd saves are
  weights and are not charged again; what is saved once the backward has
  started (the recomputation of reentrant checkpoints, e.g. mmseg's Swin
  blocks) is transient and not charged. Inside a non-reentrant checkpoint,
  torch's own hooks take over: what a checkpointed block recomputes is not
  held and does not appear, only the inputs the checkpoint keeps (which are
  other modules' outputs, charged where autograd also saves them, or not
  at all, see "unattributed");
- the process: resident set before the model is built, at the start of the
  backward (current RSS, i.e. weights + optimizer state + saved activations
  + allocator slack) and its high-water mark over the step (``ru_maxrss``);
  "unattributed" is the peak minus everything above (the transients of the
  backward and the optimizer step, tensors kept by reference, allocator
  overhead).

Example::

    python tools/analysis_tools/memory_breakdown.py configs/mtcp_nyud.py \
        --input-size 448 576 --batch-size 2
"""

import argparse
import os
import sys
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.config import DictAction

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import (  # noqa: E402
    build_model,
    build_optim_wrapper,
    load_config,
    max_rss_bytes,
    model_batch_parser,
)
from benchmark_batch import make_batch  # noqa: E402

GIB = 2**30
MIB = 2**20


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = model_batch_parser(__doc__.split("\n")[0])
    parser.add_argument(
        "--depth", type=int, default=2, help="module name parts per row (default 2)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed steps before the measured one"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    args = parser.parse_args(argv)
    if args.depth < 1 or args.warmup < 0:
        parser.error("--depth must be >= 1 and --warmup >= 0")
    return args


def current_rss_bytes() -> int:
    """The resident set now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


class SavedTensorTracker:
    """Charge the tensors autograd saves to the module that saves them.

    Args:
        model (nn.Module): The model whose modules are tracked.
        depth (int): Name parts kept for a row (``decoders.semseg.stages``
            at depth 2 is ``decoders.semseg``); unnamed code of the model
            itself is ``(model)``.
    """

    def __init__(self, model: nn.Module, depth: int) -> None:
        self.model = model
        self.depth = depth
        self.stack: List[str] = []
        self.saved: Dict[str, int] = defaultdict(int)
        self.seen: set = set()
        self.param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.rss_at_backward: Optional[int] = None
        self.names = {m: self._group(n) for n, m in model.named_modules()}

    def _group(self, name: str) -> str:
        return ".".join(name.split(".")[: self.depth]) if name else "(model)"

    def _pre_hook(self, module: nn.Module, args) -> None:
        self.stack.append(self.names[module])

    def _post_hook(self, module: nn.Module, args, output) -> None:
        if self.stack:
            self.stack.pop()

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.rss_at_backward is not None:
            return tensor
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self.param_ptrs and ptr not in self.seen:
            self.seen.add(ptr)
            self.saved[self.stack[-1] if self.stack else "(model)"] += storage.nbytes()
        return tensor

    def _unpack(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.rss_at_backward is None:
            self.rss_at_backward = current_rss_bytes()
        return tensor

    @contextmanager
    def track(self) -> Iterator[None]:
        """Record the saved tensors of what runs inside."""
        handles = []
        for module in self.model.modules():
            handles.append(module.register_forward_pre_hook(self._pre_hook))
            handles.append(module.register_forward_hook(self._post_hook))
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack):
                yield
        finally:
            for handle in handles:
                handle.remove()


def measure(args: argparse.Namespace) -> Dict[str, object]:
    """Run the warm-up steps and one tracked step; return the figures."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rss_start = current_rss_bytes()
    cfg = load_config(args.config, args.cfg_options)
    device = torch.device("cpu")
    model = build_model(cfg, device, channels_last=False)
    data = make_batch(model, args.batch_size, args.input_size, args.seed)
    optim_wrapper = build_optim_wrapper(model, "none", device)
    model.train()
    for _ in range(args.warmup):
        model.train_step(data, optim_wrapper)
    tracker = SavedTensorTracker(model, args.depth)
    with tracker.track():
        model.train_step(data, optim_wrapper)
    params = [p for p in model.parameters()]
    weights = sum(p.numel() * p.element_size() for p in params)
    trainable = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    return dict(
        rss_start=rss_start,
        weights=weights,
        grads=trainable,
        adamw=2 * trainable,
        saved=dict(tracker.saved),
        rss_at_backward=tracker.rss_at_backward,
        peak=max_rss_bytes(),
    )


def format_table(result: Dict[str, object], top: int = 0) -> str:
    """A Markdown table of the figures, the largest saved activations first."""
    saved = sorted(result["saved"].items(), key=lambda kv: -kv[1])
    activations = sum(v for _, v in saved)
    lines = ["| part | GiB | share of peak |", "|---|---|---|"]
    peak = result["peak"]

    def row(name: str, value: int) -> None:
        lines.append(f"| {name} | {value / GIB:.3f} | {100 * value / peak:.1f} % |")

    row("process before the model (Python, torch, mmcv)", result["rss_start"])
    row("weights", result["weights"])
    row("gradients", result["grads"])
    row("AdamW state (2 moments)", result["adamw"])
    row("activations saved for the backward (all)", activations)
    for name, value in saved[: top or len(saved)]:
        if value >= MIB:
            row(f"- `{name}`", value)
    known = (
        result["rss_start"]
        + result["weights"]
        + result["grads"]
        + result["adamw"]
        + activations
    )
    row("unattributed (backward/optimizer transients, allocator)", peak - known)
    row("**peak RSS of the step**", peak)
    if result["rss_at_backward"] is not None:
        lines.append(
            f"\nRSS at the start of the backward: "
            f"{result['rss_at_backward'] / GIB:.3f} GiB"
        )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    result = measure(args)
    print(
        f"{args.config}: input {args.input_size[0]}x{args.input_size[1]}, batch "
        f"{args.batch_size}, fp32, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}"
    )
    print(format_table(result))


if __name__ == "__main__":
    main()
