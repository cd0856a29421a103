"""Where the time of a training step goes, per component, from ``torch.profiler``.

:func:`profile_step` runs one step under the profiler with a range per
module call (forward hooks, and a module's ``loss`` method); every
operator's own (self) CPU time is then charged to one component and one
phase:

- forward: the operator runs inside a module's range, outside any backward
  node;
- recompute: it runs inside a module's range (or the ``checkpoint
  recompute`` range of :func:`mtcp.models.utils.checkpoint`) within a
  backward node: the forward of a checkpointed block, run again;
- backward: it runs in a backward node, charged to the module whose forward
  created the node (matched by autograd's sequence number);
- optimizer: the optimizer's ``step`` and ``zero_grad``.

The component of a module is the first of ``rules`` (regular expressions on
its qualified name) that matches; an attention kernel
(``scaled_dot_product_attention``) is charged to ``<component> attention``.
"""

import re
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile

MODULE_PREFIX = "module::"
RECOMPUTE_RANGE = "checkpoint recompute"
BACKWARD_PREFIX = "autograd::engine::evaluate_function: "
PHASES = ("forward", "recompute", "backward")

# The components of MT-CP (mtcp.models.MTCP), first match wins.
MTCP_RULES: Tuple[Tuple[str, str], ...] = (
    (r"^data_preprocessor", "data preprocessor"),
    (r"^backbone\.backbone(\.|$)", "backbone (Swin)"),
    (r"^backbone\.decode_head\.pixel_decoder", "pixel decoder"),
    (r"^backbone", "transformer decoder and mask heads"),
    (r"^decoders\.", "task decoders"),
    (r"^cfms\.", "CFM"),
    (r"^srms\.", "SRMs"),
    (r"^heads\.[^.]+\.(loss|loss_decode)(\.|$)", "losses (at label size)"),
    (r"^heads\.", "heads"),
    (r"^weighting", "loss weighting"),
    (r"", "model (outside submodules)"),
)
# Operators whose FLOPs the achieved-throughput rows count (forward kernels;
# the backward's matmuls are aten::mm too).
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")
SDPA_FWD = "aten::_scaled_dot_product_flash_attention_for_cpu"
SDPA_BWD = "aten::_scaled_dot_product_flash_attention_for_cpu_backward"


def component_of(name: str, rules: Sequence[Tuple[str, str]] = MTCP_RULES) -> str:
    """The label of the first rule whose pattern matches module ``name``."""
    for pattern, label in rules:
        if re.search(pattern, name):
            return label
    return name.split(".")[0] or "model (outside submodules)"


@contextmanager
def module_ranges(model: nn.Module) -> Iterator[None]:
    """A profiler range ``module::<name>`` around every module call of
    ``model`` and around its submodules' ``loss`` methods."""
    stack: List[record_function] = []
    handles, patched = [], []

    def enter(name: str) -> None:
        stack.append(record_function(MODULE_PREFIX + name).__enter__())

    def leave() -> None:
        if stack:
            stack.pop().__exit__(None, None, None)

    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(lambda m, a, n=name: enter(n)))
        handles.append(module.register_forward_hook(lambda m, a, o: leave()))
        if name and callable(getattr(type(module), "loss", None)):
            patched.append(module)
            module.loss = _ranged(module.loss, f"{name}.loss")
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module in patched:
            del module.loss


def _ranged(fn: Callable, name: str) -> Callable:
    def wrapped(*args, **kwargs):
        with record_function(MODULE_PREFIX + name):
            return fn(*args, **kwargs)

    return wrapped


class _Context:
    """What encloses an event: its innermost module range and backward node,
    which of the two is nearer, and whether an attention kernel, the
    recompute range or the optimizer encloses it."""

    __slots__ = ("module", "node", "module_nearer", "recompute", "attention", "optim")

    def __init__(self, parent: Optional["_Context"], name: str, event) -> None:
        for slot in self.__slots__:
            setattr(self, slot, getattr(parent, slot) if parent else None)
        self.attention = bool(self.attention) or "scaled_dot_product" in name.lower()
        self.attention = self.attention or "ScaledDotProduct" in name
        self.optim = bool(self.optim) or name.startswith("Optimizer.")
        if name.startswith(MODULE_PREFIX):
            self.module, self.module_nearer = name[len(MODULE_PREFIX) :], True
        elif name == RECOMPUTE_RANGE:
            self.recompute = True
        elif name.startswith(BACKWARD_PREFIX):
            self.node, self.module_nearer, self.recompute = event, False, False


def _contexts(events) -> Dict[int, _Context]:
    """The :class:`_Context` of every event, by ``id``."""
    contexts: Dict[int, _Context] = {}

    def context(event) -> _Context:
        key = id(event)
        if key not in contexts:
            parent = event.cpu_parent
            contexts[key] = _Context(
                context(parent) if parent is not None else None, event.name, event
            )
        return contexts[key]

    for event in events:
        context(event)
    return contexts


def _label(
    ctx: _Context, seq_owner: Dict[int, Tuple[str, bool]], rules
) -> Optional[Tuple[str, str]]:
    """(component, phase) of an operator; None outside every range."""
    if ctx.optim:
        return "optimizer", "optimizer"
    module, attention = ctx.module, ctx.attention
    if ctx.node is None:
        if module is None:
            return None
        phase = "forward"
    else:
        phase = "recompute" if ctx.module_nearer or ctx.recompute else "backward"
        if not ctx.module_nearer:
            owner = seq_owner.get(ctx.node.sequence_nr)
            if owner is None:
                return "gradient accumulation and unmatched", phase
            module, attention = owner[0], attention or owner[1]
    label = component_of(module, rules)
    return (f"{label} attention" if attention else label), phase


def _attention_flops(shapes) -> float:
    """Forward FLOPs of an attention of q (B, h, N, C), k (B, h, M, C)."""
    (b, h, n, c), (_, _, m, _) = shapes[0], shapes[1]
    return 4.0 * b * h * n * m * c


def summarize(
    events, wall_s: float, rules: Sequence[Tuple[str, str]] = MTCP_RULES
) -> Dict[str, object]:
    """Seconds per (component, phase) and achieved GFLOP/s, from the events
    of a profiled step (``prof.events()``)."""
    contexts = _contexts(events)
    seq_owner: Dict[int, Tuple[str, bool]] = {}
    for event in events:
        ctx = contexts[id(event)]
        if event.sequence_nr >= 0 and ctx.module_nearer:
            seq_owner.setdefault(event.sequence_nr, (ctx.module, ctx.attention))
    seconds: Dict[str, Dict[str, float]] = defaultdict(lambda: defaultdict(float))
    kernels: Dict[str, List[float]] = defaultdict(lambda: [0.0, 0.0])
    for event in events:
        label = _label(contexts[id(event)], seq_owner, rules)
        if label is not None and not event.name.startswith(MODULE_PREFIX):
            seconds[label[0]][label[1]] += event.self_cpu_time_total / 1e6
        name = event.name
        flops, kernel = 0.0, None
        if name in MATMUL_OPS and event.flops:
            flops, kernel = float(event.flops), "matmuls (aten::mm, addmm, bmm)"
        elif name in (SDPA_FWD, SDPA_BWD) and event.input_shapes:
            # the backward recomputes Q K^T: 5 matmuls to the forward's 2
            flops = _attention_flops(event.input_shapes)
            flops *= 2.5 if name == SDPA_BWD else 1.0
            kernel = "attention (flash, fwd + bwd)"
        if kernel:
            kernels[kernel][0] += flops
            kernels[kernel][1] += event.cpu_time_total / 1e6
    seconds = {component: dict(phases) for component, phases in seconds.items()}
    return dict(wall_s=wall_s, seconds=seconds, kernels=dict(kernels))


def peak_gflops(size: int = 2048, repeats: int = 3) -> float:
    """This process's fp32 matmul throughput (best of ``repeats`` square
    ``size`` matmuls at torch's thread count): the machine's usable peak."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def profile_step(
    step: Callable[[], object],
    model: nn.Module,
    rules: Sequence[Tuple[str, str]] = MTCP_RULES,
) -> Tuple[object, Dict[str, object]]:
    """Run ``step()`` once under the profiler with :func:`module_ranges`:
    what it returns and the :func:`summarize` of its events. CPU time only
    (on CUDA, the host's)."""
    with module_ranges(model), profile(
        activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True
    ) as prof:
        start = time.perf_counter()
        output = step()
        wall_s = time.perf_counter() - start
    return output, summarize(prof.events(), wall_s, rules)


def format_profile(summary: Dict[str, object], peak: Optional[float] = None) -> str:
    """The per-component table (seconds per phase, share of the step) and the
    achieved GFLOP/s of the big kernels, Markdown."""
    rows, wall = summary["seconds"], summary["wall_s"]
    order = sorted(rows, key=lambda c: -sum(rows[c].values()))
    lines = [
        "| component | forward s | recompute s | backward s | total s | share |",
        "|---|---|---|---|---|---|",
    ]
    for component in order:
        cells = [rows[component].get(p, 0.0) for p in PHASES]
        total = sum(rows[component].values())
        cells_s = " | ".join(f"{v:.2f}" for v in cells)
        lines.append(
            f"| {component} | {cells_s} | {total:.2f} | {100 * total / wall:.1f} % |"
        )
    timed = sum(sum(phases.values()) for phases in rows.values())
    lines.append(
        f"| outside operators (Python, hooks) | | | | {wall - timed:.2f} | "
        f"{100 * (wall - timed) / wall:.1f} % |"
    )
    lines.append(f"| **step (wall, profiled)** | | | | **{wall:.2f}** | 100 % |")
    lines += ["", "| kernel | GFLOP | s | GFLOP/s |", "|---|---|---|---|"]
    for kernel, (flops, secs) in sorted(summary["kernels"].items()):
        rate = flops / secs / 1e9 if secs else 0.0
        lines.append(f"| {kernel} | {flops / 1e9:.1f} | {secs:.2f} | {rate:.1f} |")
    if peak:
        lines.append(f"| peak: 2048^3 fp32 matmul, this process | | | {peak:.1f} |")
    return "\n".join(lines)
