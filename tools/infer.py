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
and the script then lists the failures and exits with status 1. A thin CLI
over :mod:`mtcp.apis`.
"""

import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

from mmengine.device import get_device
from mmengine.utils import ProgressBar

from mtcp.apis import find_images, inference_model, init_model, read_image, show_result
from mtcp.structures import TASKS, MultiTaskDataSample, get_task
from mtcp.utils import find_config


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Predict every task of a multi-task model on images"
    )
    parser.add_argument(
        "config", help="model config file, or the name of an mtcp config (mtcp_demo.py)"
    )
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
        help="test-time augmentation: the config's tta_model merges the "
        "predictions of its tta_pipeline's views (e.g. the image and its mirror)",
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        help="tasks to save (default: every task the model predicts)",
    )
    return parser.parse_args(argv)


class InferenceFailures(ValueError):
    """Some images could not be processed; the others were."""


def check_tasks_predicted(
    sample: MultiTaskDataSample, tasks: Optional[List[str]], img_path: str
) -> None:
    """Raise unless ``sample`` has a prediction of every one of ``tasks``."""
    predicted = [name for name, info in TASKS.items() if info.pred_field in sample]
    missing = [t for t in tasks or [] if t not in predicted]
    if missing:
        raise ValueError(
            f"--tasks asks for {missing}, but the model predicted only "
            f"{predicted} for {img_path}"
        )


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
    """Run inference; returns the written files of each image."""
    args = parse_args(argv)
    # a file, or the name of one of mtcp's configs (``mtcp_demo.py``)
    config = find_config(args.config)
    tasks = None
    if args.tasks is not None:
        tasks = [get_task(task).name for task in args.tasks]
    images = find_images(args.images)
    device = args.device or get_device()
    model = init_model(config, args.checkpoint, device, tta=args.tta)
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
        (sample,) = inference_model(model, img_path)
        check_tasks_predicted(sample, tasks, img_path)
        name = osp.splitext(osp.basename(img_path))[0]
        written[img_path] = show_result(
            model, image, sample, args.out_dir, name=name, tasks=tasks
        )
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
