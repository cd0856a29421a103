"""Side by side: an mtcp training step against the paper's public MT-CP code.

The public code (https://github.com/Klodivio355/MT-CP, a checkout given by
path; nothing of it is copied here) builds ``MultiTaskModel_NYUD`` as its
``main_CL_nyud.py`` does: its Swin-S, HuggingFace's Mask2Former Swin-S
(ADE20K, built from its config: the weights change no cost), three task
decoders with CFMs and trace-back, and its training step (its losses with
the intermediate ones halved, as ``train_nyud``; AdamW, lr 5e-5, weight
decay 1e-4). It needs ``transformers`` (the authors pin 4.46.3) and ``einops``;
its imports of ``torchvision`` and ``timm`` only name helpers the step does
not run (``save_image``; ``DropPath`` of a drop rate of 0 or of the unused
backbone), and are given here when missing. Both run on the same synthetic
batch shape, each in a fresh process, A (mtcp, through
``analysis_tools/benchmark.py``) then B (the public code); the table has the
ratios A / B. Example (a virtual environment for the public code's packages)::

    python -m venv --system-site-packages /tmp/pub
    /tmp/pub/bin/pip install transformers==4.46.3 einops
    python tools/benchmark_public.py /path/to/MT-CP --public-python \\
        /tmp/pub/bin/python --batch-size 1 --warmup 1 --repeats 1
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import types
from typing import Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("public_dir", help="a checkout of the public MT-CP repository")
    add("--public-python", default=sys.executable, help="its interpreter")
    add("--config", default="configs/mtcp_nyud.py", help="mtcp's side")
    add("--input-size", type=int, nargs=2, default=(448, 576), metavar=("H", "W"))
    add("--batch-size", type=int, default=1)
    add("--warmup", type=int, default=1)
    add("--repeats", type=int, default=1)
    add("--mtcp-options", nargs="+", default=[], help="benchmark.py options")
    add("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _stub_missing_helpers() -> None:
    """``torchvision`` and ``timm``'s helpers, where not installed (after
    ``transformers`` is imported: it looks for both by their specs)."""
    import torch

    try:
        import torchvision  # noqa: F401
    except ImportError:
        vision = types.ModuleType("torchvision")
        vision.transforms = types.ModuleType("torchvision.transforms")
        vision.utils = types.ModuleType("torchvision.utils")
        vision.utils.save_image = None
        sys.modules["torchvision"] = vision
        sys.modules["torchvision.transforms"] = vision.transforms
        sys.modules["torchvision.utils"] = vision.utils
    try:
        from timm.models.layers import DropPath  # noqa: F401
    except ImportError:
        layers = types.ModuleType("timm.models.layers")

        class DropPath(torch.nn.Module):
            """timm's stochastic depth: drops a sample's residual branch."""

            def __init__(self, drop_prob: float = 0.0) -> None:
                super().__init__()
                self.drop_prob = drop_prob

            def forward(self, x):
                if self.drop_prob == 0.0 or not self.training:
                    return x
                keep = 1 - self.drop_prob
                mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1))
                return x * mask.bernoulli_(keep) / keep

        layers.DropPath = DropPath
        layers.to_2tuple = lambda x: (
            tuple(x) if isinstance(x, (tuple, list)) else (x, x)
        )
        layers.trunc_normal_ = torch.nn.init.trunc_normal_
        for name in ("timm", "timm.models"):
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules["timm.models.layers"] = layers


class _Weights(dict):
    """The config's loss weights (an attribute dict in the public code)."""


def run_public(args) -> dict:
    """One timed training step of the public code, on CPU (its ``.cuda()``
    calls become no-ops)."""
    import resource

    import torch
    import transformers

    _stub_missing_helpers()
    torch.nn.Module.cuda = lambda self, *a, **k: self

    config = transformers.Mask2FormerConfig(num_labels=150)
    model_cls = transformers.Mask2FormerForUniversalSegmentation
    model_cls.from_pretrained = classmethod(lambda cls, *a, **k: cls(config))
    from losses.loss_functions import DepthLoss, NormalsLoss, SoftMaxwithLoss
    from losses.loss_schemes import MultiTaskLoss
    from models.models_nyud_CL import MultiTaskModel_NYUD
    from models.swim_transformer2 import SwinTransformer

    torch.manual_seed(0)
    backbone = SwinTransformer(
        pretrain_img_size=224,
        window_size=7,
        depths=(2, 2, 18, 2),
        num_heads=(3, 6, 12, 24),
        in_chans=3,
        embed_dim=96,
        drop_path_rate=0.3,
    )
    tasks = ["semseg", "depth", "normals"]
    model = MultiTaskModel_NYUD(
        backbone, dict(semseg=40, depth=1, normals=3), tasks, 1344
    )
    semseg, depth, normals = (
        SoftMaxwithLoss(),
        DepthLoss("l1"),
        NormalsLoss(normalize=True, size_average=True, norm=1),
    )
    criterion = MultiTaskLoss(
        tasks,
        torch.nn.ModuleDict(dict(semseg=semseg, depth=depth, normals=normals)),
        _Weights.fromkeys(tasks, 1.0),
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4
    )
    g = torch.Generator().manual_seed(0)
    b, (h, w) = args.batch_size, args.input_size
    images = torch.randn(b, 3, h, w, generator=g)
    targets = dict(
        semseg=torch.randint(0, 40, (b, 1, h, w), generator=g).float(),
        depth=0.5 + 6.0 * torch.rand(b, 1, h, w, generator=g),
        normals=torch.nn.functional.normalize(
            torch.randn(b, 3, h, w, generator=g), dim=1
        ),
    )
    intermediate = dict(alpha=semseg, beta=depth, charlie=depth)
    model.train()
    times, cpu = [], []
    for i in range(args.warmup + args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        output, _ = model(images, inference=False)
        losses = criterion(output, targets)
        total = losses["total"]
        for name, pred in output.items():
            prefix = name.split("_")[0]
            if prefix in intermediate:
                task = dict(alpha="semseg", beta="depth", charlie="normals")[prefix]
                total = total + intermediate[prefix](pred, targets[task]) / 2
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)

    def stats(v):
        return dict(median=statistics.median(v), min=min(v), max=max(v))

    return dict(
        label="B",
        config="public MT-CP",
        device=f"cpu / {torch.get_num_threads()}",
        params=sum(p.numel() for p in model.parameters()),
        train_step_s=stats(times),
        train_step_cpu_s=stats(cpu),
        train_peak_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        loss=float(total.detach()),
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_public(args)))
        return
    # here, not at the top: the public code's interpreter runs this file too
    from mtcp.utils.benchmarking import format_table, run_child

    common = ["--input-size", *map(str, args.input_size), "--batch-size"]
    common += [str(args.batch_size), "--warmup", str(args.warmup)]
    common += ["--repeats", str(args.repeats)]
    script = os.path.join(HERE, "analysis_tools", "benchmark.py")
    mtcp = run_child(
        script, [args.config, *common, "--device", "cpu", *args.mtcp_options], "A"
    )
    cmd = [args.public_python, os.path.abspath(__file__), *argv, "--child"]
    # the public code's packages (losses, models) import from its checkout
    path = [os.path.abspath(args.public_dir), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, path)))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode == 0:
        public = json.loads(proc.stdout.strip().splitlines()[-1])
    else:
        print(proc.stderr[-3000:], file=sys.stderr)
        public = dict(
            label="B", config="public MT-CP", failed=f"exit {proc.returncode}"
        )
    print(
        f"A: mtcp {args.config}, B: the public MT-CP code at {args.public_dir}; input "
        f"{args.input_size[0]}x{args.input_size[1]}, batch {args.batch_size}, "
        f"{args.warmup} warm-up and {args.repeats} timed steps, fp32, CPU"
    )
    print(format_table([mtcp, public]))


if __name__ == "__main__":
    main()
