"""Export a multi-task model to ONNX and check ONNX Runtime against PyTorch.

Usage::

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT] --out model.onnx
        (--shape H W | --dynamic [--shape H W]) [--class-probs] [--verify-sizes H W ...]
        [--no-verify] [--opset N] [--cfg-options KEY=VALUE ...]

Writes ``model.onnx`` (input ``image``, one output per task named after it,
activated as ``MTCP.predict`` returns it: see
:mod:`mtcp.deployment.export_model`) and ``model.json`` next to it (the
preprocessing, the tasks, class names, palettes and how to save each
output), which is all ``tools/deployment/onnx_infer.py`` needs.

``--shape H W`` exports a graph for images of that size (padded to the size
divisor; smaller images are padded to it); ``--dynamic`` one graph for any
batch and any size in the range ``torch.export`` proves (printed, and
written to the JSON), traced at ``--shape`` (default 480 x 640). Without CHECKPOINT the config's initial (random, seed 0)
weights are exported, to try the export itself.

The export is then checked: a seeded test image of each verified size
(default: 480x640 and 375x500 with ``--dynamic``, the ``--shape`` size
otherwise) is predicted by ``MTCP.predict`` and by ONNX Runtime through
``onnx_infer.py``'s preprocessing; the differences are printed, and the
script exits with status 1 when class ids agree on fewer than 99.9 % of the
pixels or a depth, normal or probability differs by more than 1e-3.
"""

import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction

# onnx_infer.py, the runtime, is a sibling script: Python puts this script's
# folder on the module path.
from onnx_infer import OnnxMultiTaskModel  # noqa: E402

from mtcp.apis import inference_model, init_model, reduces_zero_label  # noqa: E402
from mtcp.deployment import (  # noqa: E402
    check_exportable_pipeline,
    deploy_meta,
    export_onnx,
    padded_size,
    write_meta,
)
from mtcp.structures import TASKS  # noqa: E402

CLASS_AGREEMENT = 0.999
MAX_DIFFERENCE = 1e-3
DYNAMIC_SIZES = ((480, 640), (375, 500))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Export a multi-task model to ONNX and check it against PyTorch"
    )
    parser.add_argument("config", help="model config file")
    parser.add_argument(
        "checkpoint",
        nargs="?",
        help="checkpoint file (default: the config's initial weights)",
    )
    parser.add_argument("--out", required=True, help="the .onnx file to write")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="the input size of a static graph; with --dynamic, the size traced "
        "(default 480 640)",
    )
    parser.add_argument(
        "--dynamic", action="store_true", help="one graph for any batch and size"
    )
    parser.add_argument(
        "--class-probs",
        action="store_true",
        help="also output the class tasks' probabilities (<task>_prob)",
    )
    parser.add_argument(
        "--verify-sizes",
        type=int,
        nargs="+",
        metavar="H W",
        help="image sizes to compare ONNX Runtime and PyTorch at, as H W pairs "
        "(default: 480 640 375 500 with --dynamic, the --shape otherwise)",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the comparison")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: torch's)")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config settings, KEY=VALUE (e.g. "
        "test_dataloader.dataset.data_root=DIR, where the class names come "
        "from without a checkpoint)",
    )
    args = parser.parse_args(argv)
    if args.shape is None and not args.dynamic:
        parser.error("give --shape H W (a static graph) or --dynamic")
    if not args.out.endswith(".onnx"):
        parser.error(f"--out must name a .onnx file, got {args.out!r}")
    if args.verify_sizes is not None:
        if len(args.verify_sizes) % 2 or min(args.verify_sizes) < 1:
            parser.error("--verify-sizes takes positive H W pairs")
        args.verify_sizes = list(zip(args.verify_sizes[::2], args.verify_sizes[1::2]))
    return args


def verification_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A seeded BGR uint8 test image: smooth colour fields with edges (a
    noise image upsampled, and its thresholded copy blended in)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    edges = np.where(smooth > 127, 230.0, 25.0)
    return np.clip(0.6 * smooth + 0.4 * edges, 0, 255).astype(np.uint8)


def pytorch_outputs(model: torch.nn.Module, image: np.ndarray) -> Dict[str, np.ndarray]:
    """``MTCP.predict`` of a BGR image, named like the graph's outputs."""
    (sample,) = inference_model(model, np.ascontiguousarray(image[..., ::-1]))
    outputs = {}
    for task in model.tasks:
        info = TASKS[task]
        outputs[task] = getattr(sample, info.pred_field).data.cpu().numpy()
        logits = f"{info.field}_logits"
        if logits in sample:
            logits = getattr(sample, logits).data
            outputs[f"{task}_prob"] = logits.softmax(dim=0).cpu().numpy()
    return outputs


def compare(
    reference: Dict[str, np.ndarray],
    onnx: Dict[str, np.ndarray],
    formats: Dict[str, str],
) -> List[Tuple[str, str, float, bool]]:
    """Per output in ``onnx``: (name, measure, value, within tolerance)."""
    rows = []
    for name, out in onnx.items():
        ref = reference[name]
        if ref.shape != out.shape:
            raise ValueError(
                f"output {name!r}: ONNX Runtime gave {out.shape}, PyTorch {ref.shape}"
            )
        if formats.get(name) == "class":
            agree = float((ref == out).mean())
            rows.append((name, "class ids equal", agree, agree >= CLASS_AGREEMENT))
        else:
            diff = float(np.abs(ref.astype(np.float64) - out).max())
            rows.append((name, "max |difference|", diff, diff <= MAX_DIFFERENCE))
    return rows


def verify(
    model: torch.nn.Module,
    runtime: OnnxMultiTaskModel,
    sizes: Sequence[Tuple[int, int]],
) -> bool:
    """Compare ONNX Runtime with PyTorch at each size; print the figures."""
    formats = {task["output"]: task["format"] for task in runtime.meta["tasks"]}
    ok = True
    for h, w in sizes:
        image = verification_image(h, w)
        rows = compare(pytorch_outputs(model, image), runtime.predict(image), formats)
        print(f"ONNX Runtime vs PyTorch at {h}x{w}:")
        for name, measure, value, good in rows:
            shown = (
                f"{100 * value:.3f} %"
                if measure == "class ids equal"
                else f"{value:.2e}"
            )
            print(f"  {name:<14} {measure:<17} {shown:>10}  {'ok' if good else 'FAIL'}")
            ok &= good
    return ok


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f"Config file not found: {args.config}")
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    # seeded: without a checkpoint the initial weights, and so the figures
    # of the check, are the same from run to run
    torch.manual_seed(0)
    model = init_model(cfg, args.checkpoint, device="cpu")
    check_exportable_pipeline(model.cfg, args.config)
    divisor = model.data_preprocessor.size_divisor
    input_range = export_onnx(
        model,
        args.out,
        shape=args.shape,
        dynamic=args.dynamic,
        class_probs=args.class_probs,
        size_divisor=divisor,
        opset=args.opset,
    )
    meta = deploy_meta(
        model, args.out, input_range, args.class_probs, reduces_zero_label(model.cfg)
    )
    json_path = write_meta(args.out, meta)
    print(
        f"wrote {args.out} and {json_path}; input (after padding) "
        f"{'x'.join('{}..{}'.format(*input_range[k]) for k in ('height', 'width'))}"
    )
    if args.no_verify:
        return 0
    sizes = args.verify_sizes or (DYNAMIC_SIZES if args.dynamic else [args.shape])
    if not args.dynamic:
        # a static graph pads every image to its size, PyTorch to the divisor
        fixed = padded_size(*args.shape, divisor)
        other = [s for s in sizes if padded_size(*s, divisor) != fixed]
        if other:
            raise ValueError(
                f"--verify-sizes {other} do not pad to the static input {fixed}, "
                "where PyTorch's predictions would differ; compare at sizes "
                "that do"
            )
    if not verify(model, OnnxMultiTaskModel(args.out), sizes):
        print(
            f"FAILED: class ids must agree on >= {100 * CLASS_AGREEMENT:.1f} % of "
            f"the pixels and the other outputs within {MAX_DIFFERENCE:g}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
