"""Run a trained multi-task model on images and save its predictions.

Usage::

    python tools/infer.py CONFIG CHECKPOINT IMAGES --out-dir DIR
        [--device DEVICE] [--tta] [--tasks TASK ...] [--batch-size N]
        [--opacity A]

IMAGES is an image file, a folder of images or a quoted glob pattern. For an
image ``<name>.<ext>`` the outputs are::

    DIR/<task>/<name>.png    semseg, parts: class indices (uint8); semseg
                             1..40 for NYUD (0 = unlabelled), as stored
                             normals: v = 255 (n + 1) / 2, x y z in R G B
                             saliency, edge: probability * 255 (uint8)
    DIR/depth/<name>.npy     depth in metres (H, W) float32
    DIR/panels/<name>.png    input image and every predicted task, coloured,
                             with legends

The checkpoint must fit the config's model exactly (keys, shapes, finite
weights). An image that cannot be read is skipped; the others are processed,
the failures are listed after the progress bar and the exit status is 1. A
thin CLI over :class:`mtcp.apis.MultiTaskInferencer`.
"""

import argparse
import sys
import warnings
from typing import List, Optional, Sequence

from mmengine.utils import ProgressBar

from mtcp.apis import MultiTaskInferencer, find_images
from mtcp.structures import get_task


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
    parser.add_argument("--batch-size", type=int, default=1, help="images per pass")
    parser.add_argument(
        "--opacity",
        type=float,
        default=0.8,
        help="opacity of the class maps over the image in the panels (0-1)",
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1 or not 0 <= args.opacity <= 1:
        parser.error("--batch-size must be >= 1 and --opacity in [0, 1]")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run inference; returns the exit status (1 if an image failed)."""
    args = parse_args(argv)
    tasks = None
    if args.tasks is not None:
        tasks = [get_task(task).name for task in args.tasks]
    images = find_images(args.images)
    inferencer = MultiTaskInferencer(
        args.config, args.checkpoint, args.device, tta=args.tta, show_progress=False
    )
    progress = ProgressBar(len(images), file=sys.stdout)
    failures: List[str] = []
    done, predicted = 0, []
    with warnings.catch_warnings():
        # mmdet's Mask2Former point generator calls torch.meshgrid without
        # `indexing`; torch's deprecation notice would break the progress bar
        warnings.filterwarnings("ignore", "torch.meshgrid: in an upcoming release")
        # a batch at a time: the predictions go to disk, not into memory
        for start in range(0, len(images), args.batch_size):
            batch = images[start : start + args.batch_size]
            results = inferencer(
                batch,
                batch_size=args.batch_size,
                out_dir=args.out_dir,
                tasks=tasks,
                opacity=args.opacity,
                skip_unreadable=True,
            )
            failures += results["failed"]
            done += len(results["predictions"])
            predicted = predicted or list(next(iter(results["predictions"]), []))
            progress.update(len(batch))
    print(flush=True)
    if failures:
        print(f"{len(failures)} of {len(images)} images failed:", file=sys.stderr)
        print("  " + "\n  ".join(failures), file=sys.stderr, flush=True)
    summary = (
        f"{done} image{'s' * (done != 1)}: predictions and panels in "
        f"{args.out_dir} ({', '.join(predicted) or 'no task'})"
    )
    if failures:
        summary += f"; {len(failures)} failed (listed above)"
    print(summary)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
