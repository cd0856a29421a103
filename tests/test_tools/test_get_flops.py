"""tools/analysis_tools/get_flops.py: FLOPs and parameters per part."""

from pathlib import Path

import torch
from tool_loader import load_tool

get_flops = load_tool("analysis_tools/get_flops")
DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "mtcp_demo.py")


def test_format_parts_hand_computed():
    table = get_flops.format_parts(4e9, {"a": 3e9, "(model)": 1e9}, {"a": 2e6, "b": 0})
    assert table.splitlines()[2:] == [
        "| a | 3.00 | 75.0 % | 2.000 |",
        "| (model) | 1.00 | 25.0 % | 0.000 |",
        "| **total** | 4.00 | 100 % | 2.000 |",
    ]


def test_demo_model_parts_add_up_to_the_total(capsys):
    torch.set_num_threads(1)
    report = get_flops.main([DEMO, "--shape", "64", "64"])
    assert capsys.readouterr().out.strip().endswith(report)
    assert report.splitlines()[0].endswith(
        "input 3x64x64, one image, forward (a multiply-add counts 2 FLOPs)"
    )
    rows = [line.strip("| ").split(" | ") for line in report.splitlines()[3:]]
    names = [row[0] for row in rows]
    assert names == ["backbone", "decoders", "cfms", "srms", "heads", "**total**"]
    shares = [float(row[2].rstrip(" %")) for row in rows[:-1]]
    assert abs(sum(shares) - 100) < 0.3 and min(shares) > 0
    params = [float(row[3]) for row in rows]
    assert abs(sum(params[:-1]) - params[-1]) < 0.003 and params[-1] > 1
