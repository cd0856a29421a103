"""tools/benchmark_public.py: mtcp's side runs, and a public side that cannot
run (no checkout here) shows why in its column."""

from pathlib import Path

from tool_loader import load_tool

public = load_tool("benchmark_public")
REPO = Path(__file__).resolve().parents[2]


def test_failed_public_run_is_reported(capsys, tmp_path):
    public.main(
        [
            str(tmp_path / "no-checkout"),
            "--config",
            str(REPO / "configs" / "mtcp_demo.py"),
        ]
        + ["--input-size", "64", "64", "--warmup", "0", "--repeats", "1"]
    )
    captured = capsys.readouterr()
    assert "| | A | B |" in captured.out
    assert "| device / threads | cpu / " in captured.out
    assert "| exit 1 |" in captured.out
    # the public code's own error is passed on
    assert "Error" in captured.err
