"""The memory breakdown charges saved tensors to the right modules."""

from pathlib import Path

import torch
import torch.nn as nn
from tool_loader import load_tool

from mtcp.structures import TASKS  # noqa: F401  (mtcp on the path)

TOOL = load_tool("analysis_tools/memory_breakdown")
REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "configs" / "_base_" / "models" / "mtcp_tiny.py")
TINY_ARGS = [TINY, "--input-size", "64", "64", "--batch-size", "1", "--threads", "1"]


def test_saved_tensors_charged_once_per_module():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(3, 4)
    tracker = TOOL.SavedTensorTracker(model, depth=1)
    with tracker.track():
        model(x).sum().backward()
    # Linear 0 saves its input x (3 x 4 floats; its weight is a parameter and
    # not charged), ReLU its output (3 x 8), Linear 2 its input: the same
    # storage as the ReLU output, charged once.
    assert tracker.saved == {"0": 3 * 4 * 4, "1": 3 * 8 * 4}
    assert tracker.rss_at_backward > 0


def test_checkpointing_shrinks_the_saved_activations():
    plain = TOOL.measure(TOOL.parse_args(TINY_ARGS + ["--warmup", "0"]))
    options = ["model.cfm.with_cp=True", "model.srm.with_cp=True"]
    cp = TOOL.measure(
        TOOL.parse_args(TINY_ARGS + ["--warmup", "0", "--cfg-options", *options])
    )
    for task in ("semseg", "depth", "normals"):
        assert cp["saved"][f"srms.{task}"] < plain["saved"][f"srms.{task}"]
        assert cp["saved"][f"cfms.{task}"] < plain["saved"][f"cfms.{task}"]
    assert plain["weights"] == cp["weights"] > 0
    assert plain["adamw"] == 2 * plain["grads"]
    assert plain["peak"] >= plain["rss_at_backward"] > 0 and plain["rss_start"] > 0
    table = TOOL.format_table(plain)
    assert "| weights |" in table and "**peak RSS of the step**" in table
