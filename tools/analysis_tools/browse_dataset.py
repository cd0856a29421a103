"""Write augmented training samples with every task map colourised.

Each output PNG shows, side by side, the image as the model sees it (after
the pipeline, before normalisation) and one colourised label map per task.

Example::

    python tools/analysis_tools/browse_dataset.py configs/mtcp_nyud.py \
        --output-dir work_dirs/browse --num 10
"""

import argparse
import os
import os.path as osp

import mmcv
import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from mtcp.structures import TASKS
from mtcp.utils import find_config
from mtcp.visualization.colorize import colorize_task


def render_sample(sample: dict, metainfo: dict) -> np.ndarray:
    """Concatenate the image and the colourised task maps (RGB uint8)."""
    inputs = sample["inputs"].numpy().transpose(1, 2, 0)[..., ::-1]
    data_sample = sample["data_samples"]
    tiles = [inputs]
    for task in data_sample.tasks:
        palette = metainfo.get(TASKS[task].palette_key)
        data = data_sample.get_gt(task).data.numpy()
        tiles.append(colorize_task(task, data, palette))
    return np.concatenate(tiles, axis=1)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "config", help="config (or mtcp config name) whose training set is shown"
    )
    parser.add_argument("--output-dir", default="work_dirs/browse_dataset")
    parser.add_argument("--num", type=int, default=10, help="samples to write")
    parser.add_argument(
        "--cfg-options", nargs="+", action=DictAction, help="override config fields"
    )
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = Config.fromfile(find_config(args.config))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get("default_scope", "mmseg"))
    from mtcp.tasks import declare_tasks  # importing mtcp registers its modules

    declare_tasks(cfg.get("task_table"))

    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    os.makedirs(args.output_dir, exist_ok=True)
    for index in range(min(args.num, len(dataset))):
        sample = dataset[index]
        picture = render_sample(sample, dataset.metainfo)
        name = f"{index:05d}_{'_'.join(sample['data_samples'].tasks)}.png"
        mmcv.imwrite(picture[..., ::-1], osp.join(args.output_dir, name))
    print(f"wrote {min(args.num, len(dataset))} samples to {args.output_dir}")


if __name__ == "__main__":
    main()
