"""Run an exported multi-task model with ONNX Runtime and save its predictions.

Usage::

    python tools/deployment/onnx_infer.py MODEL.onnx IMAGES --out-dir DIR
        [--tasks TASK ...] [--threads N]

Needs only onnxruntime, numpy and opencv (no torch, no OpenMMLab, no mtcp):
the preprocessing, the tasks and how to save them come from the JSON that
``tools/deployment/pytorch2onnx.py`` writes next to the model
(``MODEL.json``). IMAGES is an image file, a folder of images or a quoted
glob pattern. The outputs are those of ``tools/infer.py``::

    DIR/<task>/<name>.png    semseg, parts: class indices (uint8); semseg
                             1..40 for NYUD (0 = unlabelled), as stored
                             normals: v = 255 (n + 1) / 2, x y z in R G B
                             saliency, edge: probability * 255 (uint8)
    DIR/depth/<name>.npy     depth in metres (H, W) float32
    DIR/panels/<name>.png    input image and every predicted task, coloured

The panels have the tiles of ``tools/infer.py --opacity 1``'s, without
its legend strip; their labels are drawn with OpenCV's font instead of
matplotlib's. An image that cannot be
read is skipped; the others are processed and the script then lists the
failures and exits with status 1.
"""

import argparse
import glob
import json
import os
import os.path as osp
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

META_FORMAT = "mtcp-onnx"
META_VERSION = 1
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
IGNORE_INDEX = 255
# The fields a task of a format needs besides name, output and format.
FORMAT_FIELDS = {"class": dict(palette=list, class_offset=int)}


class InferenceFailures(ValueError):
    """Some images could not be processed; the others were."""


def _field(meta: dict, key: str, where: str, kind: type = object):
    if key not in meta:
        raise ValueError(f"{where}: missing field {key!r}")
    value = meta[key]
    if not isinstance(value, kind):
        raise ValueError(
            f"{where}: field {key!r} must be {kind.__name__}, got {value!r}"
        )
    return value


def load_meta(path: str) -> dict:
    """Read and check the deployment JSON written by ``pytorch2onnx.py``."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f"{path} not found: the JSON written next to the ONNX model by "
            "tools/deployment/pytorch2onnx.py (preprocessing and tasks)"
        )
    with open(path) as f:
        meta = json.load(f)
    if meta.get("format") != META_FORMAT or meta.get("version") != META_VERSION:
        raise ValueError(
            f"{path}: not an mtcp deployment file of version {META_VERSION} "
            f"(format {meta.get('format')!r}, version {meta.get('version')!r})"
        )
    pre = _field(meta, "preprocess", path, dict)
    where = f"{path}: preprocess"
    if _field(pre, "channel_order", where, str) not in ("rgb", "bgr"):
        raise ValueError(f"{where}: channel_order must be 'rgb' or 'bgr'")
    for key in ("mean", "std"):
        value = _field(pre, key, where)
        if value is not None and len(value) not in (1, 3):
            raise ValueError(f"{where}: {key} must be null or 1 or 3 numbers")
    ranges = _field(pre, "input_range", where, dict)
    for key in ("height", "width"):
        bounds = _field(ranges, key, f"{where}: input_range", list)
        if len(bounds) != 2 or not 1 <= bounds[0] <= bounds[1]:
            raise ValueError(f"{where}: input_range: {key} must be [min, max]")
    for i, task in enumerate(_field(meta, "tasks", path, list)):
        where = f"{path}: tasks[{i}]"
        for key in ("name", "output"):
            _field(task, key, where, str)
        if _field(task, "format", where, str) not in FORMATS:
            raise ValueError(f"{where}: format must be one of {sorted(FORMATS)}")
        for key, kind in FORMAT_FIELDS.get(task["format"], {}).items():
            _field(task, key, where, kind)
    return meta


def find_images(spec: str) -> List[str]:
    """The image files named by a file, a folder or a glob pattern, sorted."""
    if osp.isdir(spec):
        paths = [
            osp.join(spec, name)
            for name in os.listdir(spec)
            if name.lower().endswith(IMAGE_EXTENSIONS)
            and osp.isfile(osp.join(spec, name))
        ]
    elif osp.isfile(spec):
        paths = [spec]
    else:
        paths = [path for path in glob.glob(spec) if osp.isfile(path)]
    if not paths:
        raise FileNotFoundError(
            f"No images found for {spec!r}: expected an image file, a folder "
            f"with {'/'.join(IMAGE_EXTENSIONS)} images or a glob pattern "
            "matching files"
        )
    names: Dict[str, str] = {}
    for path in paths:
        name = osp.splitext(osp.basename(path))[0]
        if name in names:
            raise ValueError(
                f"{names[name]} and {path} would write the same output files "
                f"(name {name!r}); run them separately"
            )
        names[name] = path
    return sorted(paths)


def read_image(path: str) -> np.ndarray:
    """Read an image as BGR uint8 (H, W, 3), naming the file when it fails."""
    content = np.fromfile(path, dtype=np.uint8)
    if content.size == 0:
        raise ValueError(f"Cannot read image {path}: the file is empty (0 bytes)")
    image = cv2.imdecode(content, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"Cannot read image {path}: not a decodable image file")
    return image


class OnnxMultiTaskModel:
    """An exported MT-CP model and its preprocessing.

    Args:
        model_path (str): The ``.onnx`` file.
        meta_path (str, optional): Its JSON; by default the ``.onnx`` path
            with ``.json``.
        threads (int, optional): ONNX Runtime's intra-op threads (default:
            its own choice).
    """

    def __init__(
        self, model_path: str, meta_path: Optional[str] = None, threads: int = 0
    ) -> None:
        import onnxruntime as ort

        if not osp.isfile(model_path):
            raise FileNotFoundError(f"ONNX model not found: {model_path}")
        self.meta_path = meta_path or osp.splitext(model_path)[0] + ".json"
        self.meta = load_meta(self.meta_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            model_path, options, providers=["CPUExecutionProvider"]
        )
        pre = self.meta["preprocess"]
        self.mean = None if pre["mean"] is None else np.float32(pre["mean"])
        self.std = None if pre["std"] is None else np.float32(pre["std"])
        self.tasks = [task["name"] for task in self.meta["tasks"]]
        self.outputs = {task["name"]: task for task in self.meta["tasks"]}
        available = {o.name for o in self.session.get_outputs()}
        for task in self.meta["tasks"]:
            names = [task["output"]] + ([task["probs"]] if task.get("probs") else [])
            missing = [name for name in names if name not in available]
            if missing:
                raise ValueError(
                    f"{self.meta_path}: task {task['name']!r} names outputs "
                    f"{missing} that {model_path} does not have ({sorted(available)})"
                )

    def input_size(self, h: int, w: int) -> Tuple[int, int]:
        """The graph's input size for an (h, w) image: padded to the size
        divisor, or to the size of a static graph."""
        pre = self.meta["preprocess"]
        divisor = pre["size_divisor"] or 1
        size = (-(-h // divisor) * divisor, -(-w // divisor) * divisor)
        ranges = [pre["input_range"][key] for key in ("height", "width")]
        static = all(low == high for low, high in ranges)
        for n, (low, high) in zip(size, ranges):
            if n > high or (n < low and not static):
                raise ValueError(
                    f"an image of {h}x{w} needs an input of {size[0]}x{size[1]}, "
                    f"outside the {'x'.join(f'{a}..{b}' for a, b in ranges)} "
                    f"this model was exported for (its JSON, {self.meta_path}); "
                    "export it with --dynamic, or with --shape of this size"
                )
        if static:
            # a static graph takes every image padded to its size
            size = (ranges[0][0], ranges[1][0])
        return size

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """BGR uint8 (H, W, 3) -> the graph's (1, 3, H', W') float32 input:
        channel order, normalisation, zero padding at the bottom and right
        (after the normalisation), as the model's data preprocessor."""
        pre = self.meta["preprocess"]
        x = image[..., ::-1] if pre["channel_order"] == "rgb" else image
        x = x.astype(np.float32)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        h, w = image.shape[:2]
        size = self.input_size(h, w)
        padded = np.full((1, 3) + size, pre["pad_value"], dtype=np.float32)
        padded[0, :, :h, :w] = x.transpose(2, 0, 1)
        return padded

    def predict(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """Predict every task on a BGR uint8 image (H, W, 3).

        Returns:
            dict[str, ndarray]: Output name -> prediction (C, H, W) at the
            image's size: ``<task>`` for every task and ``<task>_prob`` for
            class tasks exported with their probabilities.
        """
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a (H, W, 3) image, got shape {image.shape}")
        h, w = image.shape[:2]
        inputs = {self.session.get_inputs()[0].name: self.preprocess(image)}
        names = [o.name for o in self.session.get_outputs()]
        outputs = self.session.run(names, inputs)
        return {name: out[0, :, :h, :w] for name, out in zip(names, outputs)}


def _save_png(array: np.ndarray, path_stem: str, rgb: bool = False) -> str:
    path = f"{path_stem}.png"
    array = np.clip(np.round(array), 0, 255).astype(np.uint8)
    cv2.imwrite(path, array[..., ::-1] if rgb else array)
    return path


def _write_classes(task: dict, array: np.ndarray, path_stem: str) -> str:
    array = array + task["class_offset"]
    if array.min() < 0 or array.max() > 255:
        raise ValueError(
            f"{task['name']} prediction has class indices outside 0..255; "
            "cannot save it as a PNG"
        )
    return _save_png(array[0], path_stem)


def _write_depth(task: dict, array: np.ndarray, path_stem: str) -> str:
    path = f"{path_stem}.npy"
    np.save(path, array[0].astype(np.float32))
    return path


def _write_normals(task: dict, array: np.ndarray, path_stem: str) -> str:
    return _save_png((array.transpose(1, 2, 0) + 1) * 127.5, path_stem, rgb=True)


def _write_probability(task: dict, array: np.ndarray, path_stem: str) -> str:
    return _save_png(array[0] * 255, path_stem)


def _write_boundary(task: dict, array: np.ndarray, path_stem: str) -> str:
    """uint8 PNG of ``(255 p).astype(uint8)``, as the field saves boundaries."""
    path = f"{path_stem}.png"
    cv2.imwrite(path, (np.float32(255) * array[0].astype(np.float32)).astype(np.uint8))
    return path


def _colour_classes(task: dict, data: np.ndarray) -> np.ndarray:
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(task["palette"])] = np.asarray(task["palette"], dtype=np.uint8)
    lut[IGNORE_INDEX] = 0
    return lut[data[0].astype(np.int64)]


def _colour_depth(task: dict, data: np.ndarray) -> np.ndarray:
    data = data[0]
    valid = data > 0
    if not valid.any():
        return np.zeros(data.shape + (3,), dtype=np.uint8)
    low, high = data[valid].min(), data[valid].max()
    scaled = np.clip((data - low) / max(high - low, 1e-6), 0, 1)
    bgr = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET)
    rgb = bgr[..., ::-1].copy()
    rgb[~valid] = 0
    return rgb


def _colour_normals(task: dict, data: np.ndarray) -> np.ndarray:
    vectors = data.transpose(1, 2, 0)
    rgb = np.clip((vectors + 1) / 2 * 255, 0, 255).round().astype(np.uint8)
    rgb[~vectors.any(axis=2)] = 0
    return rgb


def _colour_probability(task: dict, data: np.ndarray) -> np.ndarray:
    grey = (np.clip(data[0], 0, 1) * 255).round().astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


# Per output format (the task kinds' ``export_format``): how a prediction is
# saved (mtcp/utils/prediction_writer.py's files) and coloured as
# ``tools/infer.py``'s panels: class palette, 'jet' depth from its smallest to
# its largest value, normals ``(n + 1) / 2 * 255``, probabilities as grey.
FORMATS: Dict[str, Tuple[Callable, Callable]] = {
    "class": (_write_classes, _colour_classes),
    "depth": (_write_depth, _colour_depth),
    "normals": (_write_normals, _colour_normals),
    "probability": (_write_probability, _colour_probability),
    "boundary": (_write_boundary, _colour_probability),
}


def colorize(task: dict, data: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) picture of a prediction (C, H, W)."""
    return FORMATS[task["format"]][1](task, data)


def _label(panel: np.ndarray, text: str, x: int, y: int) -> None:
    """White text on a translucent black box, top-left corner at (x, y)."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    box = panel[y : y + th + base + 2, x : x + tw + 2]
    box[:] = (box * 0.4).astype(np.uint8)
    cv2.putText(panel, text, (x + 1, y + th + 1), font, scale, (255, 255, 255), 1)


def compose_panel(
    image_rgb: np.ndarray, preds: Dict[str, np.ndarray], tasks: Sequence[dict]
) -> np.ndarray:
    """The input image and one coloured tile per task, in a row (RGB)."""
    h, w = image_rgb.shape[:2]
    tiles = [image_rgb] + [colorize(task, preds[task["output"]]) for task in tasks]
    panel = np.concatenate(tiles, axis=1)
    for col, text in enumerate(["input"] + [f"{t['name']} pred" for t in tasks]):
        _label(panel, text, col * w + 2, 2)
    return panel


def save_result(
    model: OnnxMultiTaskModel,
    image: np.ndarray,
    preds: Dict[str, np.ndarray],
    out_dir: str,
    name: str,
    tasks: Optional[Sequence[str]] = None,
) -> List[str]:
    """Write ``out_dir/<task>/<name>.<ext>`` and ``out_dir/panels/<name>.png``
    (the panel last); ``tasks`` in the order given (default: all)."""
    selected = [model.outputs[t] for t in (tasks or model.tasks)]
    files = []
    for task in selected:
        os.makedirs(osp.join(out_dir, task["name"]), exist_ok=True)
        stem = osp.join(out_dir, task["name"], name)
        files.append(FORMATS[task["format"]][0](task, preds[task["output"]], stem))
    panel = compose_panel(np.ascontiguousarray(image[..., ::-1]), preds, selected)
    os.makedirs(osp.join(out_dir, "panels"), exist_ok=True)
    files.append(osp.join(out_dir, "panels", f"{name}.png"))
    cv2.imwrite(files[-1], panel[..., ::-1])
    return files


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Predict every task of an exported MT-CP model with ONNX Runtime"
    )
    parser.add_argument("model", help="the .onnx file (its .json beside it)")
    parser.add_argument(
        "images", help="an image file, a folder of images or a quoted glob pattern"
    )
    parser.add_argument("--out-dir", required=True, help="directory for the outputs")
    parser.add_argument(
        "--tasks", nargs="+", help="tasks to save (default: every task of the model)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="ONNX Runtime intra-op threads (default: its own choice)",
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
    """Run inference; returns the written files of each image."""
    args = parse_args(argv)
    model = OnnxMultiTaskModel(args.model, threads=args.threads)
    unknown = [t for t in args.tasks or [] if t not in model.tasks]
    if unknown:
        raise ValueError(
            f"--tasks names {unknown}, which {args.model} does not predict; "
            f"it predicts {model.tasks}"
        )
    images = find_images(args.images)
    written: Dict[str, List[str]] = {}
    failures: List[str] = []
    for path in images:
        try:
            image = read_image(path)
        except (OSError, ValueError) as err:
            # one unreadable image must not cost the others' predictions
            failures.append(str(err))
            continue
        name = osp.splitext(osp.basename(path))[0]
        preds = model.predict(image)
        written[path] = save_result(model, image, preds, args.out_dir, name, args.tasks)
    if failures:
        raise InferenceFailures(
            f"{len(failures)} of {len(images)} images failed (the others were "
            "saved):\n  " + "\n  ".join(failures)
        )
    return written


if __name__ == "__main__":
    try:
        main()
    except InferenceFailures as failures:
        print(failures, file=sys.stderr)
        sys.exit(1)
