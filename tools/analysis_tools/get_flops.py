"""Forward FLOPs and parameters of a config's model, per part.

mmseg's ``get_flops.py`` for models without a ``decode_head``: one random
image of ``--shape`` through the tensor-mode forward, counted by
``torch.utils.flop_counter`` (a multiply-add is 2 FLOPs; matmuls,
convolutions and attention counted; element-wise ops, softmax and
``grid_sample`` not), split over the model's parts (MT-CP: backbone, task
decoders, CFMs, SRMs, heads; ``mtcp.utils.benchmarking.flops_by_part``).
``--depth N`` also lists the modules N name parts deep above 1 GFLOP.

Example::

    python tools/analysis_tools/get_flops.py configs/mtcp_nyud.py --shape 448 576
"""

import argparse
from typing import Optional, Sequence

from mmengine.config import DictAction

import mtcp  # noqa: F401  (registers the modules)
from mtcp.utils.benchmarking import (
    build_model,
    count_flops,
    flops_by_part,
    load_config,
    params_by_part,
    synthetic_batch,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", help="config file or the name of an mtcp config")
    parser.add_argument(
        "--shape", type=int, nargs=2, default=(448, 576), metavar=("H", "W")
    )
    parser.add_argument(
        "--depth", type=int, default=0, help="also list modules N name parts deep"
    )
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    return parser.parse_args(argv)


def format_parts(total: int, flops: dict, params: dict) -> str:
    """A Markdown table: GFLOPs, their share and M parameters per part."""
    lines = ["| part | GFLOPs | share | params (M) |", "|---|---|---|---|"]
    for name in [*params, *(n for n in flops if n not in params)]:
        gflops, count = flops.get(name, 0), params.get(name, 0)
        if gflops or count:
            share = 100 * gflops / total if total else 0.0
            lines.append(
                f"| {name} | {gflops / 1e9:.2f} | {share:.1f} % | {count / 1e6:.3f} |"
            )
    count = sum(params.values())
    lines.append(f"| **total** | {total / 1e9:.2f} | 100 % | {count / 1e6:.3f} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg)
    data = synthetic_batch(model, 1, args.shape)
    total, flops = flops_by_part(model, data)
    report = [
        f"{args.config}: input 3x{args.shape[0]}x{args.shape[1]}, one image, "
        "forward (a multiply-add counts 2 FLOPs)",
        format_parts(total, flops, params_by_part(model)),
    ]
    if args.depth:
        _, by_module = count_flops(model, data, args.depth)
        report += [f"  GFLOPs of {n}: {v / 1e9:.1f}" for n, v in by_module.items()]
    print("\n".join(report))
    return "\n".join(report)


if __name__ == "__main__":
    main()
