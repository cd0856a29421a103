"""Throughput of the NYUD-v2 training pipeline and of the evaluation metric.

Shows whether the data loader or the evaluation can hold training back:

- pipeline: images per second of the dataset config's training pipeline
  (``train_dataloader.dataset``, loading from disk included) in this process,
  and of a ``DataLoader`` with ``--workers`` worker processes (the first
  batch, which pays the workers' start-up, is not timed);
- metric: images per second of ``MultiTaskMetric.process`` (the per-image
  statistics, run in the test loop) on predictions and labels at the dataset's
  size, plus the one-off ``compute_metrics``;
- the consumption of a training step: ``batch size / step time``, from
  ``--train-step-s`` (e.g. the median printed by ``benchmark.py``).

Without ``--data-root`` a fake NYUD-v2 dataset in the real on-disk layout is
written to a temporary directory (``make_fake_dataset.py``) at ``--size``
(NYUD-v2's 480 x 640 by default).

Example::

    python tools/analysis_tools/benchmark_data.py --num-images 40 --workers 2 \
        --train-step-s 150
"""

import argparse
import importlib.util
import os.path as osp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import DATASETS, METRICS
from torch.utils.data import DataLoader

import mtcp  # noqa: F401  (registers the modules)
from mtcp.structures import TASKS, MultiTaskDataSample
from mtcp.tasks import task_kind

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_batch import random_label  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, "configs", "_base_", "datasets", "nyud.py")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help="config with a train_dataloader"
    )
    parser.add_argument(
        "--data-root", help="an NYUD-v2 dataset (default: write a fake one)"
    )
    parser.add_argument(
        "--size", type=int, nargs=2, default=(480, 640), metavar=("H", "W")
    )
    parser.add_argument(
        "--num-files", type=int, default=16, help="images of the fake dataset"
    )
    parser.add_argument(
        "--num-images", type=int, default=40, help="images timed per measurement"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument(
        "--train-step-s",
        type=float,
        help="measured seconds of one training step at --batch-size",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _make_fake_dataset(
    out_dir: str, num_files: int, size: Sequence[int], seed: int
) -> None:
    # tools/ is not a package: import the converter from its file.
    path = osp.join(REPO, "tools", "dataset_converters", "make_fake_dataset.py")
    spec = importlib.util.spec_from_file_location("mtcp_make_fake_dataset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.make_fake_dataset(out_dir, "nyud", num_files, 1, tuple(size), seed)


def build_train_dataset(config: str, data_root: str):
    """The config's training dataset, read from ``data_root``."""
    cfg = Config.fromfile(config)
    # The pipeline's transforms live in mmseg's registry, which a Runner would
    # make the default scope.
    init_default_scope(cfg.get("default_scope", "mmseg"))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = data_root
    return DATASETS.build(dataset_cfg)


def pipeline_throughput(dataset, num_images: int, repeats: int) -> List[float]:
    """Images per second of ``dataset[i]`` in this process, per repeat."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(num_images):
            dataset[i % len(dataset)]
        rates.append(num_images / (time.perf_counter() - start))
    return rates


def loader_throughput(
    dataset, num_images: int, workers: int, batch_size: int, repeats: int
) -> List[float]:
    """Images per second a ``DataLoader`` delivers, per repeat.

    Each repeat starts fresh workers and leaves the first batch (their
    start-up, paid once per training run with ``persistent_workers``) out
    of the timing.
    """
    num_batches = max(1, num_images // batch_size)
    # The sampler indexes the (small) dataset cyclically: num_batches batches
    # after the untimed first one.
    indices = [i % len(dataset) for i in range((num_batches + 1) * batch_size)]
    rates = []
    for _ in range(repeats):
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=indices,
            num_workers=workers,
            collate_fn=pseudo_collate,
        )
        batches = iter(loader)
        next(batches)
        start = time.perf_counter()
        delivered = sum(len(batch["inputs"]) for batch in batches)
        rates.append(delivered / (time.perf_counter() - start))
        del batches, loader
    return rates


def _random_sample(
    tasks: Sequence[str], num_classes: int, size: Sequence[int], gen
) -> dict:
    """A test-loop output sample: prediction and label of every task."""
    h, w = size
    sample = MultiTaskDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w)))
    for task in tasks:
        head = task_kind(task)
        gt = random_label(task, num_classes, size, gen, invalid_fraction=0.0)
        pred = head.random_prediction(num_classes, size, gen)
        setattr(sample, TASKS[task].gt_field, PixelData(data=gt))
        setattr(sample, TASKS[task].pred_field, PixelData(data=pred))
    return sample.to_dict()


def metric_throughput(
    tasks: Sequence[str],
    dataset_meta: dict,
    size: Sequence[int],
    num_images: int,
    seed: int = 0,
) -> Dict[str, float]:
    """Images per second of ``MultiTaskMetric.process`` and the seconds of
    ``compute_metrics`` over them."""
    # compute_metrics logs its tables at INFO to the current mmengine logger;
    # an ERROR-level logger made current keeps the figures readable.
    MMLogger.get_instance("mtcp_benchmark_data", log_level="ERROR")
    metric = METRICS.build(dict(type="MultiTaskMetric", tasks=list(tasks)))
    metric.dataset_meta = dataset_meta
    gen = torch.Generator().manual_seed(seed)
    num_classes = len(dataset_meta["classes"])
    # A few distinct samples, reused: their cost does not depend on the values.
    pool = [_random_sample(tasks, num_classes, size, gen) for _ in range(4)]
    start = time.perf_counter()
    for i in range(num_images):
        metric.process({}, [pool[i % len(pool)]])
    process_s = time.perf_counter() - start
    start = time.perf_counter()
    metric.compute_metrics(metric.results)
    return dict(
        images_per_s=num_images / process_s,
        compute_s=time.perf_counter() - start,
    )


def _fmt(rates: Sequence[float]) -> str:
    return f"{statistics.median(rates):7.2f} img/s [{min(rates):.2f}, {max(rates):.2f}]"


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data_root
        if data_root is None:
            data_root = osp.join(tmp, "nyud")
            _make_fake_dataset(data_root, args.num_files, args.size, args.seed)
        dataset = build_train_dataset(args.config, data_root)
        print(
            f"training pipeline of {args.config} on {data_root} "
            f"({len(dataset)} images); {args.num_images} images per measurement, "
            f"{args.repeats} repeats, median [min, max]"
        )
        single = pipeline_throughput(dataset, args.num_images, args.repeats)
        print(f"  pipeline, 1 process:       {_fmt(single)}")
        loader = loader_throughput(
            dataset, args.num_images, args.workers, args.batch_size, args.repeats
        )
        print(
            f"  DataLoader, {args.workers} workers, batch {args.batch_size}: "
            f"{_fmt(loader)}"
        )
        if args.train_step_s:
            consumed = args.batch_size / args.train_step_s
            print(
                f"  a training step consumes: {consumed:7.2f} img/s "
                f"(batch {args.batch_size} / {args.train_step_s:.2f} s); the loader "
                f"delivers x{statistics.median(loader) / consumed:.1f} that"
            )
        metric = metric_throughput(
            dataset.tasks, dataset.metainfo, args.size, args.num_images, args.seed
        )
        print(
            f"MultiTaskMetric({list(dataset.tasks)}) at {args.size[0]}x{args.size[1]}: "
            f"process {metric['images_per_s']:.1f} img/s, compute_metrics "
            f"{metric['compute_s']:.3f} s for {args.num_images} images"
        )


if __name__ == "__main__":
    main()
