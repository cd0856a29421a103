"""tools/analysis_tools/benchmark.py on the tiny demo model at a tiny input:
sane figures for training, inference, one CFM and the memory breakdown, and
A / B runs in fresh processes."""

import math
from pathlib import Path

import pytest
import torch
from tool_loader import load_tool

bench = load_tool("analysis_tools/benchmark")
REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "configs" / "mtcp_demo.py")
TINY_ARGS = [DEMO, "--input-size", "64", "64", "--batch-size", "1"]
TINY_ARGS += ["--warmup", "0", "--repeats", "1", "--device", "cpu"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _check_stats(stats):
    assert set(stats) == {"median", "min", "max"}
    assert 0 < stats["min"] <= stats["median"] <= stats["max"]


def test_training_with_memory_breakdown():
    args = bench.parse_args(TINY_ARGS + ["--memory-breakdown", "2"])
    result = bench.run_benchmark(args)
    assert result["device"] == "cpu / 1" and result["params"] > 1e6
    _check_stats(result["train_step_s"])
    _check_stats(result["train_step_cpu_s"])
    assert math.isfinite(result["loss"])
    parts = result["breakdown"]
    # fp32; two frozen parameters have no gradient
    assert parts["weights"] == 4 * result["params"] > parts["gradients"] > 0
    # AdamW: two moments per trainable parameter, plus a step count per tensor
    assert (
        0 < parts["optimizer_state"] - 2 * parts["gradients"] < 0.001 * parts["weights"]
    )
    peak = result["train_peak_bytes"]
    # the high-water mark covers both readings; the resident set at the
    # backward holds at least the weights. It may be below the one at the
    # start: in a shared pytest process the earlier tests' memory can be
    # returned to the system in between
    assert peak >= max(parts["rss_at_backward"], parts["rss_start"])
    assert parts["rss_at_backward"] > parts["weights"] and parts["rss_start"] > 0
    assert set(parts["saved"]) >= {f"cfms.{t}" for t in ("semseg", "depth", "normals")}
    table = bench.format_table([result])
    assert "| train peak memory (GiB) |" in table and "inference" not in table
    breakdown = bench.format_breakdown(result)
    assert (
        "| optimizer state |" in breakdown and "**peak RSS of the step**" in breakdown
    )


def test_checkpointing_shrinks_the_saved_activations():
    def saved(with_cp):
        args = bench.parse_args(TINY_ARGS + ["--memory-breakdown", "2", with_cp])
        return bench.run_benchmark(args)["breakdown"]["saved"]

    plain, cp = saved("--no-cp"), saved("--with-cp")
    for part in ("srms", "cfms", "decoders"):
        for task in ("semseg", "depth", "normals"):
            assert cp[f"{part}.{task}"] < plain[f"{part}.{task}"], (part, task)


def test_inference_only_and_bf16():
    result = bench.run_benchmark(bench.parse_args(TINY_ARGS + ["--inference-only"]))
    assert "train_step_s" not in result
    _check_stats(result["inference_s_per_image"])
    assert result["inference_peak_bytes"] > 0
    result = bench.run_benchmark(bench.parse_args(TINY_ARGS + ["--amp", "bf16"]))
    assert math.isfinite(result["loss"])


def test_one_cfm_of_the_config():
    args = bench.parse_args(TINY_ARGS + ["--cfm-only", "--input-size", "32", "48"])
    result = bench.run_benchmark(args)
    _check_stats(result["cfm_s"])
    assert result["cfm_peak_bytes"] >= 0 and result["params"] > 0
    with pytest.raises(SystemExit):
        bench.parse_args(TINY_ARGS + ["--cfm-only", "--memory-breakdown", "2"])


def test_run_b_takes_its_config_options_and_switches():
    argv = TINY_ARGS + ["--inference-only", "--with-cp"]
    argv += ["--cfg-options", "model.use_srm=False", "--compare"]
    argv += ["--compare-options", "model.use_srm=True", "--compare-no-cp"]
    a = bench.run_benchmark(bench.parse_args(argv + ["--child", "A"]))
    b = bench.run_benchmark(bench.parse_args(argv + ["--child", "B"]))
    assert (a["label"], a["with_cp"], b["label"], b["with_cp"]) == (
        "A",
        True,
        "B",
        False,
    )
    # B has its SRMs back: more parameters
    assert b["params"] > a["params"]
    with pytest.raises(SystemExit):
        bench.parse_args(TINY_ARGS + ["--compare-no-cp"])


@pytest.mark.slow
def test_compare_runs_a_and_b_in_fresh_processes(capsys):
    bench.main(
        TINY_ARGS
        + ["--cfm-only", "--input-size", "32", "48", "--no-cp", "--compare"]
        + ["--compare-options", "model.cfm.attention='naive'"]
    )
    out = capsys.readouterr().out
    assert "| | A | B |" in out and "| CFM peak memory above its inputs (GiB) |" in out
    assert "A / B: CFM forward + backward s x" in out


def test_format_table_ratios_and_failures():
    def result(label, seconds, peak):
        stats = dict(median=seconds, min=seconds, max=seconds)
        return dict(label=label, config="c.py", device="cpu / 1", params=1e6,
                    train_step_s=stats, train_peak_bytes=peak, loss=1.0)  # fmt: skip

    table = bench.format_table([result("A", 1.0, 2**30), result("B", 2.0, 2**32)])
    assert "| train step s, median [min, max] | 1.000 [1.000, 1.000] |" in table
    assert "A / B: train step s x0.50, train peak memory (GiB) x0.25" in table
    failed = dict(label="B", config="c.py", failed="killed by signal 9")
    table = bench.format_table([result("A", 1.0, 2**30), failed])
    assert "| device / threads | cpu / 1 | killed by signal 9 |" in table
    assert "x0.50" not in table


def test_profile_is_an_extra_step_after_the_timed_ones():
    args = bench.parse_args(TINY_ARGS + ["--profile"])
    result = bench.run_benchmark(args)
    _check_stats(result["train_step_s"])
    profile = result["profile"]
    assert profile["wall_s"] > 0 and profile["peak_gflops"] > 0
    table = bench.format_profile(profile, profile["peak_gflops"])
    assert "| CFM attention |" in table and "**step (wall, profiled)**" in table
