"""The tiny model exported to ONNX: ONNX Runtime against PyTorch at two
sizes through one dynamic graph, and onnx_infer.py against tools/infer.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from script_runner import run_script
from tool_loader import load_tool

pytest.importorskip(
    "onnxruntime",
    reason="ONNX Runtime is an optional extra: pip install -r requirements/deploy.txt",
)
pytest.importorskip(
    "onnxscript",
    reason="torch's ONNX exporter needs onnxscript, an optional extra: "
    "pip install -r requirements/deploy.txt",
)

from mtcp.apis import init_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "configs" / "mtcp_demo.py")
pytorch2onnx = load_tool("deployment/pytorch2onnx")
onnx_infer = load_tool("deployment/onnx_infer")
infer = load_tool("infer")
# Not multiples of 32 (the runtime pads and crops); the deepest Swin stage
# (stride 32, windows of 7) has one window at the first, 2 x 2 at the second.
SIZES = [(70, 90), (250, 330)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The demo model (seeded initial weights, the demo's class names) saved
    as a checkpoint and exported with a dynamic graph and probabilities.

    The export runs as a user runs it, in its own process: torch.export
    leaves about a million objects in its caches, and in the test process
    every later garbage collection would walk them (tripling the time of
    the tests after this module)."""
    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp("onnx")
    model = init_model(DEMO)
    model.init_weights()
    ckpt = str(tmp / "demo.pth")
    meta = dict(dataset_meta=model.dataset_meta)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    out = str(tmp / "demo.onnx")
    argv = [DEMO, ckpt, "--out", out, "--dynamic", "--class-probs"]
    sizes = [str(s) for size in SIZES for s in size]
    printed = run_script(
        ["tools/deployment/pytorch2onnx.py", *argv, "--verify-sizes", *sizes]
    )
    return dict(ckpt=ckpt, onnx=out, printed=printed, tmp=tmp)


def test_export_matches_pytorch_at_two_sizes(exported, capsys):
    for h, w in SIZES:
        assert f"ONNX Runtime vs PyTorch at {h}x{w}:" in exported["printed"]
    # the tool's check, called here again, printing
    model = init_model(DEMO, exported["ckpt"])
    runtime = onnx_infer.OnnxMultiTaskModel(exported["onnx"])
    assert pytorch2onnx.verify(model, runtime, SIZES)
    printed = capsys.readouterr().out
    for h, w in SIZES:
        assert f"ONNX Runtime vs PyTorch at {h}x{w}:" in printed
    rows = [line.split() for line in printed.splitlines() if line.startswith("  ")]
    assert len(rows) == 2 * 4  # semseg, semseg_prob, depth, normals
    assert all(row[-1] == "ok" for row in rows)
    # one graph: batch, height and width are symbols, not the example's
    image = runtime.session.get_inputs()[0]
    assert image.name == "image" and not any(
        isinstance(d, int) for d in (image.shape[0], *image.shape[2:])
    )
    names = [o.name for o in runtime.session.get_outputs()]
    assert names == ["semseg", "semseg_prob", "depth", "normals"]


def test_graph_outputs_are_predict_activations(exported):
    """ORT's raw outputs on a batch of two padded images: class ids in
    range, probabilities summing to one, depth >= 0, unit normals; each
    image of the batch predicted as it is alone."""
    runtime = onnx_infer.OnnxMultiTaskModel(exported["onnx"])
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(2, 3, 96, 128)).astype(np.float32)
    semseg, probs, depth, normals = runtime.session.run(None, {"image": batch})
    assert semseg.shape == (2, 1, 96, 128) and semseg.dtype == np.int64
    assert semseg.min() >= 0 and semseg.max() < 5
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (probs.argmax(1)[:, None] == semseg).mean() > 0.999
    assert (depth >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    for i in range(2):
        alone = runtime.session.run(None, {"image": batch[i : i + 1]})
        assert (alone[0] == semseg[i : i + 1]).mean() > 0.999
        # batch 1 and 2 take other GEMM blockings: float32 rounding apart
        for got, together in zip(alone[1:], (probs, depth, normals)):
            np.testing.assert_allclose(got, together[i : i + 1], atol=1e-4)


def test_meta_json_holds_the_preprocessing_and_tasks(exported):
    meta = json.loads(Path(exported["onnx"]).with_suffix(".json").read_text())
    pre = meta["preprocess"]
    assert pre["channel_order"] == "rgb"
    assert pre["mean"] == [123.675, 116.28, 103.53]
    assert pre["std"] == [58.395, 57.12, 57.375]
    assert pre["size_divisor"] == 32 and pre["pad_value"] == 0
    # traced at 480 x 640: valid from 2 blocks of 32 up to the export's limit
    assert pre["input_range"] == dict(height=[64, 8192], width=[64, 8192])
    assert [t["name"] for t in meta["tasks"]] == ["semseg", "depth", "normals"]
    semseg = meta["tasks"][0]
    assert semseg["format"] == "class" and semseg["probs"] == "semseg_prob"
    assert len(semseg["classes"]) == len(semseg["palette"]) == 5
    assert semseg["class_offset"] == 0


def _write_images(folder: Path) -> None:
    folder.mkdir()
    for i, (h, w) in enumerate(SIZES):
        cv2.imwrite(
            str(folder / f"img{i}.png"), pytorch2onnx.verification_image(h, w, i)
        )


def _run_onnx_infer_without_torch(args) -> None:
    """onnx_infer.py as a script in a process where torch, OpenMMLab and mtcp
    cannot be imported."""
    blocked = ["torch", "mmengine", "mmcv", "mmseg", "mmdet", "mtcp"]
    code = (
        "import runpy, sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        f"sys.argv = {['onnx_infer.py', *args]!r}\n"
        f"runpy.run_path({str(REPO / 'tools/deployment/onnx_infer.py')!r}, "
        "run_name='__main__')\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_onnx_infer_writes_what_infer_writes(exported, tmp_path):
    images = tmp_path / "images"
    _write_images(images)
    torch_out, onnx_out = tmp_path / "torch", tmp_path / "onnx"
    # opacity 1: class maps alone, as the ONNX runtime's panels draw them
    argv = [DEMO, exported["ckpt"], str(images), "--out-dir", str(torch_out)]
    assert infer.main(argv + ["--opacity", "1"]) == 0
    _run_onnx_infer_without_torch(
        [exported["onnx"], str(images), "--out-dir", str(onnx_out), "--threads", "1"]
    )
    torch_files = sorted(p.relative_to(torch_out) for p in torch_out.rglob("*.*"))
    onnx_files = sorted(p.relative_to(onnx_out) for p in onnx_out.rglob("*.*"))
    assert torch_files == onnx_files and len(torch_files) == 2 * 4
    for i, (h, w) in enumerate(SIZES):
        name = f"img{i}"
        for task in ("semseg", "normals"):
            a = cv2.imread(str(torch_out / task / f"{name}.png"), cv2.IMREAD_UNCHANGED)
            b = cv2.imread(str(onnx_out / task / f"{name}.png"), cv2.IMREAD_UNCHANGED)
            assert a.shape == b.shape and a.shape[:2] == (h, w)
            # class ids equal, normals within one grey level, but on 0.1 %
            # of the pixels (near-ties of the argmax, rounding at .5)
            diff = np.abs(a.astype(int) - b.astype(int))
            assert (diff > (0 if task == "semseg" else 1)).mean() <= 1e-3
        depth_a = np.load(torch_out / "depth" / f"{name}.npy")
        depth_b = np.load(onnx_out / "depth" / f"{name}.npy")
        assert depth_b.dtype == np.float32 and depth_b.shape == (h, w)
        np.testing.assert_allclose(depth_b, depth_a, rtol=0, atol=1e-3)
        panel_a = cv2.imread(str(torch_out / "panels" / f"{name}.png"))
        panel_b = cv2.imread(str(onnx_out / "panels" / f"{name}.png"))
        # infer.py's legends below the tiles; the runtime's panel has none
        assert panel_b.shape == (h, 4 * w, 3) and panel_a.shape[0] > h
        assert panel_a.shape[1:] == panel_b.shape[1:]
        # the tiles below the labels (drawn with other fonts): same colours
        # but where the depth's 'jet' colour moved one step by float noise
        tiles = np.abs(panel_a[20:h].astype(int) - panel_b[20:].astype(int))
        assert (tiles.max(-1) > 1).mean() <= 1e-3


def test_bad_meta_json_is_named(exported, tmp_path):
    meta = json.loads(Path(exported["onnx"]).with_suffix(".json").read_text())
    del meta["preprocess"]["std"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"bad\.json: preprocess: missing field 'std'"):
        onnx_infer.OnnxMultiTaskModel(exported["onnx"], meta_path=str(bad))
    meta["preprocess"]["std"] = [1.0, 1.0, 1.0]
    meta["tasks"][1]["format"] = "height"
    bad.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"tasks\[1\]: format must be one of"):
        onnx_infer.OnnxMultiTaskModel(exported["onnx"], meta_path=str(bad))


def test_runtime_refuses_sizes_outside_the_graph_range(exported):
    runtime = onnx_infer.OnnxMultiTaskModel(exported["onnx"])
    assert runtime.input_size(33, 64) == (64, 64)
    with pytest.raises(ValueError, match=r"an image of 20x90 needs an input of 32x96"):
        runtime.predict(pytorch2onnx.verification_image(20, 90))


@pytest.mark.slow
def test_static_graph_pads_smaller_images_and_refuses_larger(tmp_path):
    """--shape: a graph for one input size, checked at it; the runtime pads
    a smaller image to it and names the sizes for a larger one."""
    out = str(tmp_path / "static.onnx")
    argv = [DEMO, "--out", out, "--shape", "70", "90", "--verify-sizes", "80", "70"]
    # seeded by the tool (no checkpoint: initial weights of seed 0)
    run_script(["tools/deployment/pytorch2onnx.py", *argv])
    runtime = onnx_infer.OnnxMultiTaskModel(out)
    assert runtime.session.get_inputs()[0].shape == [1, 3, 96, 96]
    assert runtime.meta["preprocess"]["input_range"] == dict(
        height=[96, 96], width=[96, 96]
    )
    image = pytorch2onnx.verification_image(40, 50)
    assert runtime.preprocess(image).shape == (1, 3, 96, 96)
    preds = runtime.predict(image)
    assert preds["semseg"].shape == (1, 40, 50)
    assert preds["normals"].shape == (3, 40, 50)
    with pytest.raises(ValueError, match=r"an image of 100x60 needs an input of "):
        runtime.predict(pytorch2onnx.verification_image(100, 60))


@pytest.mark.slow
def test_benchmark_prints_every_backend(exported, capsys):
    benchmark = load_tool("deployment/benchmark_onnx")
    argv = [DEMO, exported["ckpt"], "--onnx", exported["onnx"], "--size", "64", "96"]
    rows = benchmark.main(argv + ["--runs", "1", "--warmup", "0"])
    assert [row["backend"] for row in rows] == list(benchmark.BACKENDS)
    measured = [row for row in rows if "skipped" not in row]
    assert {row["backend"] for row in measured} >= {"pytorch-fp32", "onnxruntime"}
    for row in measured:
        assert row["median_ms"] > 0 and row["peak_mib"] > 50
    table = capsys.readouterr().out
    assert "| onnxruntime |" in table and "64x96 image" in table
