"""Run a trained multi-task model on images and save its predictions.

Usage::

    python tools/infer.py CONFIG CHECKPOINT IMAGES --out-dir DIR
        [--device DEVICE] [--tta] [--tasks TASK ...]

IMAGES is an image file, a folder of images or a quoted glob pattern. For an
image ``<name>.<ext>`` the outputs are::

    DIR/<task>/<name>.png    semseg, parts: class indices (uint8); semseg
                             1..40 for NYUD (0 = unlabelled), as stored
                             normals: v = 255 (n + 1) / 2, x y z in R G B
                             saliency, edge: probability * 255 (uint8)
    DIR/depth/<name>.npy     depth in metres (H, W) float32
    DIR/panels/<name>.png    input image and every predicted task, coloured

The checkpoint must fit the config's model exactly (keys, shapes, finite
weights). An image that cannot be read is skipped; the others are processed
and the script then lists the failures and exits with status 1.
"""

import argparse
import glob
import logging
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar, mkdir_or_exist, scandir
from mmseg.registry import DATASETS, MODELS

# Registers mtcp's modules even when a config has no ``custom_imports``.
import mtcp  # noqa: F401
from mtcp.structures import TASKS, MultiTaskDataSample, get_task
from mtcp.utils.strict_loading import load_checkpoint_strictly
from mtcp.visualization import MultiTaskVisualizer

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# Transforms that read labels from disk; inference has none.
ANNOTATION_TRANSFORMS = ("LoadMultiTaskAnnotations",)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Predict every task of a multi-task model on images"
    )
    parser.add_argument("config", help="model config file")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument(
        "images", help="an image file, a folder of images or a quoted glob pattern"
    )
    parser.add_argument("--out-dir", required=True, help="directory for the outputs")
    parser.add_argument(
        "--device",
        default=None,
        help="device to run on (default: cuda if available, else cpu)",
    )
    parser.add_argument(
        "--tta",
        action="store_true",
        help="average with the horizontally flipped image",
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        help="tasks to save (default: every task the model predicts)",
    )
    return parser.parse_args(argv)


def find_images(spec: str) -> List[str]:
    """The image files named by a file, a folder or a glob pattern, sorted."""
    if osp.isdir(spec):
        paths = [
            osp.join(spec, name)
            for name in scandir(spec, suffix=IMAGE_EXTENSIONS, case_sensitive=False)
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
    names = {}
    for path in paths:
        name = osp.splitext(osp.basename(path))[0]
        if name in names:
            raise ValueError(
                f"{names[name]} and {path} would write the same output files "
                f"(name {name!r}); run them separately"
            )
        names[name] = path
    return sorted(paths)


def build_inference_pipeline(cfg: Config) -> Compose:
    """The test pipeline of ``cfg`` without the annotation loading.

    A pipeline for in-memory data (the synthetic scenes, which start after
    loading) has no ``LoadImageFromFile``; it is put first, so the remaining
    transforms (resize, pad, pack) apply unchanged.
    """
    pipeline = [
        transform
        for transform in cfg.test_dataloader.dataset.pipeline
        if transform["type"] not in ANNOTATION_TRANSFORMS
    ]
    if not any(transform["type"] == "LoadImageFromFile" for transform in pipeline):
        print_log(
            "The test pipeline does not load images from files; "
            "LoadImageFromFile is put first.",
            logger="current",
            level=logging.INFO,
        )
        pipeline.insert(0, dict(type="LoadImageFromFile"))
    return Compose(pipeline)


def test_dataset_meta(cfg: Config) -> dict:
    """The metainfo of the config's test dataset, built without its data."""
    dataset_cfg = dict(cfg.test_dataloader.dataset, lazy_init=True)
    return DATASETS.build(dataset_cfg).metainfo


def init_model(
    cfg: Config, checkpoint: str, device: str, tta: bool = False
) -> torch.nn.Module:
    """Build the model of ``cfg``, load ``checkpoint`` and switch to eval.

    Like ``mmseg.apis.init_model`` minus its EncoderDecoder-specific edits
    and its Cityscapes fallback: the class names and palettes come from the
    checkpoint's ``dataset_meta`` (saved by training), else from the config's
    test dataset.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f"Checkpoint file not found: {checkpoint}")
    if tta:
        if cfg.model.get("test_cfg") is None:
            cfg.model.test_cfg = dict()
        cfg.model.test_cfg.flip = True
    init_default_scope(cfg.get("default_scope", "mmseg"))
    model = MODELS.build(cfg.model)
    # strict: a checkpoint of another config would leave random weights
    ckpt = load_checkpoint_strictly(model, checkpoint)
    model.dataset_meta = ckpt.get("meta", {}).get("dataset_meta")
    if model.dataset_meta is None:
        print_log(
            f"{checkpoint} has no dataset_meta (class names, palettes); "
            "taking them from the config's test dataset",
            logger="current",
            level=logging.WARNING,
        )
        model.dataset_meta = test_dataset_meta(cfg)
    model.cfg = cfg
    model.to(device)
    model.eval()
    return model


def reduces_zero_label(cfg: Config) -> bool:
    """Whether the config's test dataset stores semseg as 1..K (NYUD), the
    convention its predictions are saved in."""
    dataset_cls = DATASETS.get(cfg.test_dataloader.dataset.type)
    return bool(getattr(dataset_cls, "REDUCE_ZERO_LABEL", False))


def save_prediction(
    task: str, data: torch.Tensor, path_stem: str, reduce_zero_label: bool = False
) -> str:
    """Write one task's prediction in the metric's output format.

    Args:
        task (str): Task name.
        data (Tensor): ``pred_<field>.data``, (1, H, W) or (3, H, W).
        path_stem (str): Output path without the extension.
        reduce_zero_label (bool): Save semseg classes plus one (NYUD's 1..40).

    Returns:
        str: The written file.
    """
    kind = TASKS[task].kind
    array = data.detach().cpu().numpy()
    if kind == "depth":
        path = f"{path_stem}.npy"
        np.save(path, array[0].astype(np.float32))
        return path
    if kind == "class":
        if task == "semseg" and reduce_zero_label:
            array = array + 1
        if array.min() < 0 or array.max() > 255:
            raise ValueError(
                f"{task} prediction has class indices outside 0..255; cannot "
                "save it as a PNG"
            )
        image = array[0].astype(np.uint8)
    elif kind == "normals":
        rgb = np.clip(np.round((array.transpose(1, 2, 0) + 1) * 127.5), 0, 255)
        # mmcv writes BGR; the file stores x y z in R G B
        image = rgb.astype(np.uint8)[..., ::-1]
    else:
        image = np.clip(np.round(array[0] * 255), 0, 255).astype(np.uint8)
    path = f"{path_stem}.png"
    mmcv.imwrite(image, path)
    return path


class InferenceFailures(ValueError):
    """Some images could not be processed; the others were."""


def read_image(path: str) -> np.ndarray:
    """Read an image as RGB, naming the file when it cannot be decoded."""
    with open(path, "rb") as f:
        content = f.read()
    if not content:
        raise ValueError(f"Cannot read image {path}: the file is empty (0 bytes)")
    image = mmcv.imfrombytes(content, flag="color", channel_order="bgr")
    if image is None:
        raise ValueError(f"Cannot read image {path}: not a decodable image file")
    return mmcv.bgr2rgb(image)


def select_tasks(
    sample: MultiTaskDataSample, tasks: Optional[Sequence[str]], img_path: str
) -> List[str]:
    """The tasks to save for ``sample``: ``tasks``, or every predicted one."""
    predicted = [name for name, info in TASKS.items() if info.pred_field in sample]
    if tasks is None:
        return predicted
    missing = [task for task in tasks if task not in predicted]
    if missing:
        raise ValueError(
            f"--tasks asks for {missing}, but the model predicted only "
            f"{predicted} for {img_path}"
        )
    return list(tasks)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
    """Run inference; returns the written files of each image."""
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f"Config file not found: {args.config}")
    tasks = None
    if args.tasks is not None:
        tasks = [get_task(task).name for task in args.tasks]
    images = find_images(args.images)
    cfg = Config.fromfile(args.config)
    device = args.device or get_device()
    model = init_model(cfg, args.checkpoint, device, tta=args.tta)
    pipeline = build_inference_pipeline(cfg)
    zero_label = reduces_zero_label(cfg)
    visualizer = MultiTaskVisualizer(
        name="mtcp_infer", tasks=tasks, dataset_meta=model.dataset_meta
    )

    panel_dir = osp.join(args.out_dir, "panels")
    mkdir_or_exist(panel_dir)
    written: Dict[str, List[str]] = {}
    progress = ProgressBar(len(images))
    failures: List[str] = []
    for img_path in images:
        try:
            image = read_image(img_path)
        except (OSError, ValueError) as err:
            # one unreadable image must not cost the others' predictions
            failures.append(str(err))
            progress.update()
            continue
        data = pipeline(dict(img_path=img_path))
        with torch.no_grad():
            (sample,) = model.test_step(pseudo_collate([data]))
        name = osp.splitext(osp.basename(img_path))[0]
        files = []
        for task in select_tasks(sample, tasks, img_path):
            task_dir = osp.join(args.out_dir, task)
            mkdir_or_exist(task_dir)
            pred = getattr(sample, TASKS[task].pred_field).data
            files.append(
                save_prediction(task, pred, osp.join(task_dir, name), zero_label)
            )
        panel_file = osp.join(panel_dir, f"{name}.png")
        visualizer.add_datasample(
            name, image, sample, draw_gt=False, out_file=panel_file
        )
        files.append(panel_file)
        written[img_path] = files
        progress.update()
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
