"""MT-CP as one ONNX graph: the activated prediction of every task.

The graph takes the image as :class:`MultiTaskDataPreProcessor` hands it to
the network, ``image`` (N, 3, H, W) float32: channels in the model's order,
normalised, zero-padded at the bottom and right to a multiple of the size
divisor. It returns, per task, the prediction ``MTCP.predict`` makes, at
(H, W):

- class tasks (semseg, parts): ``<task>`` (N, 1, H, W) int64 class ids and,
  with ``class_probs``, ``<task>_prob`` (N, C, H, W) float32 probabilities
  (softmax of the logits);
- depth: ``depth`` (N, 1, H, W) metres >= 0;
- normals: ``normals`` (N, 3, H, W) unit vectors;
- saliency, edge: ``<task>`` (N, 1, H, W) probabilities.

``predict`` upsamples the stride-4 outputs to the padded size, crops the
padding and activates. The graph upsamples and activates; the runtime
(``tools/deployment/onnx_infer.py``) crops, which commutes with the
activations, all per pixel. Test pipelines that resize the image, whose
predictions ``predict`` resizes back, are refused at export (see
:func:`check_exportable_pipeline`).
"""

import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

from mtcp.apis import build_inference_pipeline
from mtcp.structures import TASKS
from mtcp.tasks import task_kind

from .exportable import export_mode

META_FORMAT = "mtcp-onnx"
META_VERSION = 1
# Largest height and width of a dynamic graph.
MAX_DYNAMIC_SIZE = 8192


def _activated_outputs(
    model: nn.Module,
    raw: Dict[str, torch.Tensor],
    size: Sequence[int],
    class_probs: bool = False,
) -> Dict[str, torch.Tensor]:
    """Each task's prediction from its raw stride-4 output, batched.

    Mirrors the heads' ``predict`` on an unresized, unflipped image: the
    bilinear upsampling of the kind's ``restore`` to the padded input size
    ``size`` (its crop to the image is left to the runtime), then the
    kind's batched ``activate`` (argmax, clamp, normalisation over the
    channels, sigmoid: all per pixel).

    Args:
        model (nn.Module): The :class:`MTCP` model.
        raw (dict[str, Tensor]): ``task -> (N, C, h, w)`` raw outputs.
        size (Sequence[int]): (H, W) of the network's input.
        class_probs (bool): Also return ``<task>_prob``, the softmax
            probabilities (N, C, H, W), of the class tasks.

    Returns:
        dict[str, Tensor]: Output name -> prediction, in :func:`output_names`
        order.
    """
    outputs = {}
    for task in model.tasks:
        logits = F.interpolate(
            raw[task], size=tuple(size), mode="bilinear", align_corners=False
        )
        kind = task_kind(task)
        outputs[task] = kind.activate(logits)
        if class_probs and kind.takes_classes:
            outputs[f"{task}_prob"] = logits.softmax(dim=1)
    return outputs


def export_format(task: str) -> str:
    """How the runtime saves and colours ``task`` (its kind's
    ``export_format``), or an error naming the task."""
    fmt = task_kind(task).export_format
    if fmt is None:
        raise ValueError(
            f"task {task!r} cannot be exported: its kind {TASKS[task].kind} "
            "names no export_format (how the ONNX runtime saves its prediction)"
        )
    return fmt


def output_names(tasks: Sequence[str], class_probs: bool = False) -> List[str]:
    """The graph's output names, in order: each task, then its probabilities
    (class tasks, with ``class_probs``)."""
    names = []
    for task in tasks:
        names.append(task)
        if class_probs and task_kind(task).takes_classes:
            names.append(f"{task}_prob")
    return names


class ExportWrapper(nn.Module):
    """``image -> tuple of activated predictions``, the exported function.

    Args:
        model (nn.Module): The :class:`MTCP` model, in eval mode.
        class_probs (bool): Add the class tasks' probabilities.
    """

    def __init__(self, model: nn.Module, class_probs: bool = False) -> None:
        super().__init__()
        self.model = model
        self.class_probs = class_probs

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        raw = self.model._forward(image)
        outputs = _activated_outputs(
            self.model, raw, image.shape[-2:], self.class_probs
        )
        return tuple(outputs.values())


def check_exportable_pipeline(cfg: Config, where: str) -> None:
    """Refuse a test pipeline that resizes the image.

    ``predict`` would resize such predictions back to the original image,
    which the graph's consumer cannot do from class ids. The shipped
    configs predict at the image's own size.
    """
    for transform in build_inference_pipeline(cfg).transforms:
        name = type(transform).__name__
        if "Resize" in name or "Crop" in name:
            raise ValueError(
                f"{where}: the test pipeline has {name}; the ONNX export "
                "predicts at the image's own size (padded to the size "
                "divisor) and cannot undo a resize or crop. Remove it from "
                "test_dataloader.dataset.pipeline (resize the images before "
                "inference instead)."
            )


def padded_size(h: int, w: int, divisor: Optional[int]) -> Tuple[int, int]:
    """(h, w) rounded up to multiples of ``divisor`` (None: unchanged)."""
    if not divisor:
        return h, w
    return -(-h // divisor) * divisor, -(-w // divisor) * divisor


def export_onnx(
    model: nn.Module,
    path: str,
    shape: Optional[Tuple[int, int]] = None,
    dynamic: bool = False,
    class_probs: bool = False,
    size_divisor: Optional[int] = 32,
    opset: Optional[int] = None,
) -> Dict[str, List[int]]:
    """Export ``model``'s activated predictions to the ONNX file ``path``.

    With ``dynamic`` one graph serves any batch and any H, W that are
    multiples of ``size_divisor`` (the runtime pads to them) within the
    range ``torch.export`` proves it for; ``shape`` (default 480 x 640) is
    then the example traced, which should be a typical size: one where
    every Swin stage has several windows, so no size is traced at 1.
    Otherwise the graph takes one image of ``shape`` padded to the size
    divisor.

    Uses the ``torch.export``-based exporter (``dynamo=True``), which keeps
    the sizes symbolic through the Python arithmetic on shapes (Swin's
    window padding, the positional encodings, the deformable attention's
    levels); TorchScript tracing freezes them to the example's.

    Returns:
        dict[str, list[int]]: ``height`` and ``width``: the [min, max]
        input size (after padding) the graph is valid for.
    """
    from torch.export import Dim

    if shape is None and not dynamic:
        raise ValueError("export_onnx needs a shape (H, W) or dynamic=True")
    divisor = size_divisor or 1
    h, w = padded_size(*(shape or (480, 640)), divisor)
    if dynamic and h == w:
        # Equal example sizes would be traced as one symbol (H == W).
        w += divisor
    image = torch.zeros(2 if dynamic else 1, 3, h, w)
    dynamic_shapes = None
    if dynamic:
        limit = MAX_DYNAMIC_SIZE // divisor
        dynamic_shapes = {
            "image": {
                0: Dim("batch", min=1, max=1024),
                2: divisor * Dim("height_blocks", min=1, max=limit),
                3: divisor * Dim("width_blocks", min=1, max=limit),
            }
        }
    wrapper = ExportWrapper(model, class_probs).eval()
    with torch.no_grad(), export_mode(model):
        program = torch.onnx.export(
            wrapper,
            (image,),
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            input_names=["image"],
            output_names=output_names(model.tasks, class_probs),
            opset_version=opset,
        )
    program.save(path)
    return _input_range(program.exported_program)


def _input_range(program) -> Dict[str, List[int]]:
    """[min, max] of the image height and width an exported program holds
    for: its input's sizes bounded by its range constraints."""
    import sympy
    from torch.utils._sympy.value_ranges import bound_sympy

    name = program.graph_signature.user_inputs[0]
    image = next(n for n in program.graph.nodes if n.name == name)
    ranges = {
        symbol: bound
        for symbol, bound in program.range_constraints.items()
        if isinstance(symbol, sympy.Symbol)
    }
    sizes = {}
    for key, dim in zip(("height", "width"), image.meta["val"].shape[2:]):
        if isinstance(dim, int):
            sizes[key] = [dim, dim]
        else:
            bound = bound_sympy(dim.node.expr, ranges)
            sizes[key] = [int(bound.lower), int(bound.upper)]
    return sizes


def deploy_meta(
    model: nn.Module,
    onnx_file: str,
    input_range: Dict[str, List[int]],
    class_probs: bool,
    reduce_zero_label: bool,
) -> dict:
    """What a runtime needs besides the graph, as a JSON-able dict.

    ``preprocess``: the channel order the graph takes (images are read as
    BGR), the normalisation, the size divisor and the padding value of the
    model's data preprocessor, and the [min, max] height and width of the
    graph's input (:func:`export_onnx`; one value for a static graph, to
    which smaller images are padded). ``tasks``, in the order of
    :data:`mtcp.structures.TASKS` (the panels' order): each task's output
    names, kind, channels and, for class tasks, the class names, the
    palette and the offset added to the saved class ids (1 for NYUD's
    semseg, stored 1..40).
    """
    pre = model.data_preprocessor
    if pre.size is not None:
        raise ValueError(
            f"the model's data preprocessor pads every image to {pre.size}; "
            "the export supports preprocessors that pad to the size divisor "
            "only (size=None)"
        )
    normalise = bool(pre._enable_normalize)
    dataset_meta = getattr(model, "dataset_meta", None) or {}
    tasks = []
    for name, info in TASKS.items():
        if name not in model.tasks:
            continue
        task = dict(
            name=name,
            format=export_format(name),
            output=name,
            probs=None,
            channels=model.out_channels[name],
        )
        if task_kind(name).takes_classes:
            for key in (info.classes_key, info.palette_key):
                if key not in dataset_meta:
                    raise ValueError(
                        f"the model's dataset_meta has no {key!r} for task "
                        f"{name!r} (class names and palette come from the "
                        "checkpoint's meta or the config's test dataset)"
                    )
            task.update(
                probs=f"{name}_prob" if class_probs else None,
                classes=list(dataset_meta[info.classes_key]),
                palette=[list(map(int, c)) for c in dataset_meta[info.palette_key]],
                class_offset=task_kind(name).saved_class_offset(reduce_zero_label),
            )
        tasks.append(task)
    meta = dict(
        format=META_FORMAT,
        version=META_VERSION,
        onnx_file=osp.basename(onnx_file),
        input="image",
        preprocess=dict(
            channel_order="rgb" if pre.bgr_to_rgb else "bgr",
            mean=_shortest(pre.mean) if normalise else None,
            std=_shortest(pre.std) if normalise else None,
            size_divisor=pre.size_divisor,
            pad_value=float(pre.pad_val),
            input_range=input_range,
        ),
        tasks=tasks,
    )
    return meta


def _shortest(values: torch.Tensor) -> List[float]:
    """float32 values as the shortest decimals that read back as them
    (123.675, not 123.67500305175781)."""
    return [
        float(np.format_float_positional(v, unique=True))
        for v in values.detach().cpu().view(-1).numpy()
    ]


def write_meta(path: str, meta: dict) -> str:
    """Write the deployment metadata next to the ONNX file ``path``
    (``model.onnx`` -> ``model.json``); returns the JSON's path."""
    json_path = osp.splitext(path)[0] + ".json"
    with open(json_path, "w") as f:
        json.dump(meta, f, indent=1)
    return json_path
