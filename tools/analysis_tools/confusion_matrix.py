"""Confusion matrix of a class task (semseg, parts) on a config's test set.

mmseg's ``confusion_matrix.py`` for any task whose kind predicts classes:
the model of CONFIG with CHECKPOINT predicts the test set, and every
labelled pixel (255 = unlabelled left out) counts in row "label", column
"predicted"; each row is drawn in percent of its class's labelled pixels,
with the dataset's class names.

Example::

    python tools/analysis_tools/confusion_matrix.py configs/mtcp_nyud.py \
        work_dirs/mtcp_nyud/best.pth --task semseg --out confusion_semseg.png
"""

import argparse
from typing import Optional, Sequence

import matplotlib
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mtcp.apis import init_model
from mtcp.structures import TASKS
from mtcp.tasks import IGNORE_INDEX, declare_tasks, get_task, task_kind
from mtcp.utils import find_config

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", help="config file or the name of an mtcp config")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--task", required=True, help="a class task, e.g. semseg")
    parser.add_argument("--out", help="PNG (default: confusion_<task>.png)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    return parser.parse_args(argv)


def confusion_matrix(pred, gt, num_classes: int) -> np.ndarray:
    """Pixel counts (K, K), row the label, column the prediction, of the
    pixels not labelled :data:`~mtcp.tasks.IGNORE_INDEX`."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    if pred.shape != gt.shape:
        raise ValueError(f"{pred.size} predicted pixels for {gt.size} labelled")
    valid = gt != IGNORE_INDEX
    for what, x in (("labels", gt[valid]), ("predictions", pred[valid])):
        if x.size and (x.min() < 0 or x.max() >= num_classes):
            raise ValueError(f"{what} outside 0..{num_classes - 1}: {np.unique(x)}")
    pairs = num_classes * gt[valid].astype(np.int64) + pred[valid]
    return np.bincount(pairs, minlength=num_classes**2).reshape(num_classes, -1)


def row_percent(counts: np.ndarray) -> np.ndarray:
    """Each row in percent of its sum; a class never labelled is NaN."""
    totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, 100 * counts / totals, np.nan)


def test_set_counts(model, cfg, task: str, num_classes: int):
    """The confusion counts of ``task`` over the test set, and the number of
    images with a label of it."""
    info, counts, labelled = TASKS[task], np.zeros((num_classes,) * 2, np.int64), 0
    for batch in Runner.build_dataloader(cfg.test_dataloader):
        with torch.no_grad():
            samples = model.test_step(batch)
        for sample in samples:
            if info.gt_field in sample:
                gt = getattr(sample, info.gt_field).data.cpu().numpy()
                pred = getattr(sample, info.pred_field).data.cpu().numpy()
                image_counts = confusion_matrix(pred, gt, num_classes)
                counts += image_counts
                labelled += bool(image_counts.sum())
    return counts, labelled


def plot(percent: np.ndarray, names: Sequence[str], title: str, out: str) -> None:
    size = 3 + 0.3 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, label="% of the labelled class")
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=90)
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted", ylabel="label", title=title)
    if len(names) <= 20:
        for (row, col), value in np.ndenumerate(percent):
            if not np.isnan(value):
                colour = "white" if value > 50 else "black"
                ax.text(
                    col, row, f"{value:.1f}", ha="center", va="center", color=colour
                )
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> np.ndarray:
    """Plot the matrix; returns the counts."""
    args = parse_args(argv)
    cfg = Config.fromfile(find_config(args.config))
    cfg.merge_from_dict(args.cfg_options or {})
    declare_tasks(cfg.get("task_table"))
    info = get_task(args.task)
    class_tasks = [task for task in TASKS if task_kind(task).takes_classes]
    if info.name not in class_tasks:
        raise ValueError(
            f"--task {info.name} is a {info.kind} task; a confusion matrix needs "
            f"a task that predicts classes: {class_tasks}"
        )
    model = init_model(cfg, args.checkpoint, args.device)
    names = model.dataset_meta.get(info.classes_key)
    if names is None:
        raise KeyError(f"the dataset_meta has no {info.classes_key!r} (class names)")
    counts, labelled = test_set_counts(model, model.cfg, info.name, len(names))
    if not labelled:
        raise ValueError(f"no image of the test set has a {info.name} label")
    out = args.out or f"confusion_{info.name}.png"
    plot(row_percent(counts), names, f"{info.name}: {args.config}", out)
    print(
        f"{info.name}: {counts.sum()} labelled pixels of {labelled} images; "
        f"rows in % of each class, plot in {out}"
    )
    return counts


if __name__ == "__main__":
    main()
