"""The bench scripts' functions return sane figures (tiny model, tiny input)."""

import importlib.util
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mtcp.structures import TASKS
from mtcp.tasks import task_kind

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "configs" / "_base_" / "models" / "mtcp_tiny.py")
TINY_ARGS = [
    TINY,
    "--input-size", "64", "64",
    "--batch-size", "1",
    "--warmup", "0",
    "--repeats", "1",
    "--threads", "1",
    "--device", "cpu",
]  # fmt: skip


def _load(name: str):
    path = REPO / "tools" / "analysis_tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"mtcp_tools_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("benchmark")


@pytest.fixture(scope="module")
def bench_data():
    return _load("benchmark_data")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _check_stats(stats):
    assert set(stats) == {"median", "min", "max"}
    assert 0 < stats["min"] <= stats["median"] <= stats["max"]


def test_run_benchmark_tiny(bench):
    result = bench.run_benchmark(bench.parse_args(TINY_ARGS))
    assert result["cfm_attention"] == "sdpa"
    assert 0 < result["trainable_params"] <= result["params"]
    _check_stats(result["train_step_s"])
    _check_stats(result["train_step_cpu_s"])
    _check_stats(result["inference_s_per_image"])
    assert result["train_peak_bytes"] >= result["rss_after_build_bytes"] > 0
    assert 0 < result["gflops_per_image"] < 10
    assert "loss" in result["losses"]
    assert all(math.isfinite(v) for v in result["losses"].values())
    table = bench.format_table([result])
    assert "train peak memory (GiB)" in table and "cfm=sdpa" in table


def test_bf16_with_cp_naive(bench):
    """AMP (bf16 autocast on CPU), activation checkpointing and the naive CFM
    run a training step with finite losses."""
    args = bench.parse_args(
        TINY_ARGS
        + ["--amp", "bf16", "--with-cp", "--cfm-attention", "naive"]
        + ["--inference-repeats", "0", "--no-flops"]
    )
    cfg = bench.load_config(TINY, None, "naive", with_cp=True)
    assert cfg.model.backbone.backbone.with_cp and cfg.model.decoder.with_cp
    assert cfg.model.backbone.pixel_decoder_with_cp and cfg.model.loss_with_cp
    assert cfg.model.cfm.with_cp and cfg.model.srm.with_cp and cfg.model.head.with_cp
    assert cfg.model.cfm.attention == "naive" and cfg.model.backbone.init_cfg is None
    result = bench.run_benchmark(args)
    assert result["amp"] == "bf16" and result["cfm_attention"] == "naive"
    assert "inference_s_per_image" not in result and "gflops_per_image" not in result
    assert all(math.isfinite(v) for v in result["losses"].values())


def test_fp16_on_cpu_is_refused(bench):
    with pytest.raises(ValueError, match="bf16"):
        bench.build_optim_wrapper(torch.nn.Linear(2, 2), "fp16", torch.device("cpu"))


def test_make_batch_labels_are_valid(bench):
    tasks = ["semseg", "parts", "depth", "normals", "saliency"]
    model = SimpleNamespace(
        tasks=tasks,
        out_channels=dict(semseg=21, parts=7, depth=1, normals=3, saliency=1),
    )
    batch = bench.make_batch(model, 2, (16, 24))
    assert [tuple(img.shape) for img in batch["inputs"]] == [(3, 16, 24)] * 2
    assert batch["inputs"][0].dtype == torch.uint8
    for sample in batch["data_samples"]:
        for task in tasks:
            label = getattr(sample, TASKS[task].gt_field).data
            kind = TASKS[task].kind
            if kind == "Normals":
                assert label.shape == (3, 16, 24) and label.dtype == torch.float32
                norms = label.norm(dim=0)
                assert torch.all((norms < 1e-6) | ((norms - 1).abs() < 1e-4))
            elif kind == "Depth":
                assert label.shape == (1, 16, 24) and label.min() >= 0
            else:
                assert label.shape == (1, 16, 24) and label.dtype == torch.int64
                valid = label[label != 255]
                high = model.out_channels[task] if task_kind(task).takes_classes else 2
                assert valid.min() >= 0 and valid.max() < high


def test_child_command_round_trip(bench):
    args = bench.parse_args(
        TINY_ARGS
        + ["--compare-naive", "--with-cp", "--amp", "bf16", "--cfg-options"]
        + ["model.tasks=['semseg','parts']", "model.num_classes.parts=7"]
    )
    child = bench.parse_args(bench._child_command(args, "naive")[2:])
    assert child.cfm_attention == "naive" and child.json
    assert not child.compare_naive
    for key in ("input_size", "batch_size", "amp", "with_cp", "threads", "repeats"):
        assert getattr(child, key) == getattr(args, key)
    assert child.cfg_options == args.cfg_options


def test_no_cp_clears_every_switch_of_the_shipped_config(bench):
    nyud = str(REPO / "configs" / "mtcp_nyud.py")
    shipped = bench.load_config(nyud).model
    cleared = bench.load_config(nyud, with_cp=False).model
    for model, value in ((shipped, True), (cleared, False)):
        assert model.backbone.backbone.with_cp is value
        assert model.backbone.pixel_decoder_with_cp is value
        assert model.backbone.transformer_decoder_with_cp is value
        assert model.decoder.with_cp is value and model.loss_with_cp is value
        assert model.cfm.with_cp is value and model.srm.with_cp is value
        assert model.head.with_cp is value
    # The other fields of the parts stay.
    assert cleared.cfm.attention == shipped.cfm.attention == "sdpa"


def test_saved_batch_is_the_batch(bench, tmp_path):
    batch_tools = _load("benchmark_batch")
    model = SimpleNamespace(
        tasks=["semseg", "depth", "normals"],
        out_channels=dict(semseg=5, depth=1, normals=3),
    )
    data = bench.make_batch(model, 2, (6, 7), seed=3)
    path = str(tmp_path / "batch.pth")
    batch_tools.save_batch(data, path)
    again = batch_tools.load_batch(path, model)
    for image, image_again in zip(data["inputs"], again["inputs"]):
        assert torch.equal(image, image_again)
    for sample, sample_again in zip(data["data_samples"], again["data_samples"]):
        assert sample.metainfo == sample_again.metainfo
        for task in model.tasks:
            field = TASKS[task].gt_field
            label = getattr(sample, field).data
            assert torch.equal(label, getattr(sample_again, field).data)
    other = SimpleNamespace(tasks=["semseg", "parts"])
    with pytest.raises(ValueError, match="batch.pth.*semseg"):
        batch_tools.load_batch(path, other)


def test_compare_runs_a_then_b(bench, monkeypatch):
    """--compare runs A with the command's own options, then B with its
    config, options over A's, checkpointing off and its PYTHONPATH."""
    calls = []

    def fake_run_child(cmd, label, pythonpath=None):
        calls.append((bench.parse_args(cmd[2:]), label, pythonpath))
        return dict(label=label)

    monkeypatch.setattr(bench, "run_child", fake_run_child)
    args = bench.parse_args(
        TINY_ARGS
        + ["--compare", "other.py", "--compare-no-cp"]
        + ["--compare-pythonpath", "/checkout", "--with-cp"]
        + ["--cfg-options", "model.num_classes.semseg=5", "model.use_srm=False"]
        + ["--compare-options", "model.use_srm=True"]
    )
    results = bench.compare_runs(args)
    (a, label_a, path_a), (b, label_b, path_b) = calls
    assert [r["label"] for r in results] == [label_a, label_b]
    assert a.config == TINY and a.with_cp is True and path_a is None
    assert a.cfg_options == {"model.num_classes.semseg": 5, "model.use_srm": False}
    assert b.config == "other.py" and b.with_cp is False and path_b == "/checkout"
    assert b.cfg_options == {"model.num_classes.semseg": 5, "model.use_srm": True}
    assert a.json and b.json and a.compare is None and b.compare is None
    # B measures the batch A made and saved
    assert a.save_batch and b.batch_file == a.save_batch and a.batch_file is None
    with pytest.raises(SystemExit):
        bench.parse_args(TINY_ARGS + ["--compare-no-cp"])


def test_inference_only_measures_the_inference_peak(bench):
    args = bench.parse_args(TINY_ARGS + ["--inference-only", "--no-flops"])
    result = bench.run_benchmark(args)
    assert "train_step_s" not in result and "losses" not in result
    _check_stats(result["inference_s_per_image"])
    assert result["inference_peak_bytes"] >= result["rss_after_build_bytes"] > 0
    table = bench.format_table([result])
    assert "| train peak memory (GiB) | - |" in table


def test_format_table_ratios(bench):
    def result(attention, seconds, peak):
        stats = dict(median=seconds, min=seconds, max=seconds)
        return dict(
            cfm_attention=attention,
            device="cpu",
            threads=1,
            params=1e6,
            train_step_s=stats,
            train_peak_bytes=peak,
            losses=dict(loss=1.0),
        )

    table = bench.format_table(
        [result("sdpa", 1.0, 2**30), result("naive", 2.0, 2**32)]
    )
    assert "train step time x0.50, peak memory x0.25" in table
    failed = dict(cfm_attention="naive", failed="exit -9: killed")
    table = bench.format_table([result("sdpa", 1.0, 2**30), failed])
    assert "exit -9: killed" in table and "x0.50" not in table


def test_data_throughput(bench_data, tmp_path):
    root = str(tmp_path / "nyud")
    bench_data._make_fake_dataset(root, 3, (48, 64), 0)
    dataset = bench_data.build_train_dataset(bench_data.DEFAULT_CONFIG, root)
    assert len(dataset) == 3
    rates = bench_data.pipeline_throughput(dataset, 3, 1)
    assert len(rates) == 1 and rates[0] > 0
    rates = bench_data.loader_throughput(dataset, 2, 1, 1, 1)
    assert len(rates) == 1 and rates[0] > 0
    metric = bench_data.metric_throughput(dataset.tasks, dataset.metainfo, (48, 64), 2)
    assert metric["images_per_s"] > 0 and metric["compute_s"] >= 0


def test_sdpa_flops_counted_on_cpu(bench):
    """The CFM's SDPA counts as many FLOPs as the naive matmuls it replaces."""
    from torch.utils.flop_counter import FlopCounterMode

    q = torch.randn(2, 1, 64, 16)
    with FlopCounterMode(display=False, custom_mapping=bench.SDPA_CPU_FLOPS) as fused:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    with FlopCounterMode(display=False) as naive:
        torch.softmax(q @ q.transpose(-2, -1), dim=-1) @ q
    assert fused.get_total_flops() == naive.get_total_flops() > 0


def test_flops_by_module(bench):
    args = bench.parse_args(TINY_ARGS)
    model = bench.build_model(bench.load_config(TINY), torch.device("cpu"), False)
    data = bench.make_batch(model, 1, args.input_size)
    total, by_module = bench.count_flops(model, data, depth=2, min_flops=1)
    assert total == bench.count_flops(model, data) > 0
    cfms = [by_module[f"cfms.{t}"] for t in model.tasks]
    assert cfms[0] == cfms[1] == cfms[2] > 0
    # Containers (ModuleDict) are never called: their children are listed.
    parts = [by_module["backbone"]] + cfms
    parts += [by_module[f"decoders.{t}"] for t in model.tasks]
    assert 0 < by_module["backbone"] and sum(parts) < total
