"""Write a small multi-task dataset in the exact layout of a supported dataset.

The scenes come from :class:`mtcp.datasets.SyntheticScenesDataset`; their
labels are written with the on-disk conventions of the real packages (NYUD
labels shifted by one with 0 unlabeled, PASCAL-Part ``.mat`` human parts,
soft saliency PNGs, ...), so the real loaders can be exercised without the
real data. Layouts: ``nyud`` (older package: .jpg images, .npy normals and
edges), ``nyud-png`` (re-hosted: .png images, normals and edges), ``pascal``
(with the PASCAL-Context label maps the edges come from),
``cityscapes`` (the official layout: ``labelIds`` and ``labelTrainIds``,
16-bit disparity and camera JSON) and ``folder`` (the default layout of
:class:`mtcp.datasets.MultiTaskFolderDataset`: ``images/``, ``semseg/`` with
255 ignore, ``depth/`` as 16-bit PNG in millimetres, ``normals/`` as
``.npy``, ``splits/train.txt`` and ``val.txt``). ``--drop-half TASK`` leaves
out the label file of TASK for every other image (folder, cityscapes), to try
partially labelled data.

Example::

    python tools/dataset_converters/make_fake_dataset.py data/fake_nyud \
        --layout nyud --num-train 8 --num-val 4
"""

import argparse
import io
import json
import os
import os.path as osp
from typing import Dict, Sequence, Tuple, Union

import mmcv
import numpy as np
from scipy.io import savemat

from mtcp.datasets import SyntheticScenesDataset
from mtcp.structures import TASKS

LAYOUTS = ("nyud", "nyud-png", "pascal", "cityscapes", "folder")
# scene class -> Cityscapes label id: wall -> wall, floor -> road,
# ceiling -> sky, box -> car, ball -> person (train ids 3, 0, 10, 13, 11)
CITYSCAPES_LABEL_IDS = np.array([12, 7, 23, 26, 24], dtype=np.uint8)
CITYSCAPES_TRAIN_IDS = np.array([3, 0, 10, 13, 11], dtype=np.uint8)
CITYSCAPES_BASELINE = 0.209313
# the scene classes, the class list of the folder layout
FOLDER_CLASSES = ("wall", "floor", "ceiling", "box", "ball")
FOLDER_TASKS = ("semseg", "depth", "normals")
# scene class -> NYU-40 index (0-based): wall, floor, ceiling, box, otherprop
NYUD_CLASS_MAP = np.array([0, 1, 21, 28, 39], dtype=np.uint8)
# scene class -> VOC index: background, chair (box), bottle (ball), person
PASCAL_CLASS_MAP = np.array([0, 9, 5, 15], dtype=np.uint8)
PASCAL_CLASS_NAMES = {9: "chair", 5: "bottle", 15: "person"}
# scene class -> PASCAL-Context label (of 459): wall, box, ball, person
PASCAL_CONTEXT_LABELS = np.array([443, 59, 258, 284], dtype=np.uint16)
# grouped part -> PASCAL-Part names (left, right) used to write it
PART_NAMES = {
    1: ("head", "hair"),
    2: ("torso", "neck"),
    3: ("luarm", "ruarm"),
    4: ("llarm", "rlarm"),
    5: ("luleg", "ruleg"),
    6: ("llleg", "rlleg"),
}


def encode_pascal_part_mat(
    objects: Sequence[Tuple[str, int, np.ndarray, Sequence[Tuple[str, np.ndarray]]]],
    imname: str,
) -> bytes:
    """A PASCAL-Part ``.mat`` file: ``anno`` = (imname, objects), an object
    being (class name, class index, mask, parts) and a part (name, mask)."""
    obj_dtype = [("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")]
    objs = np.zeros((1, len(objects)), dtype=obj_dtype)
    for i, (name, index, mask, parts) in enumerate(objects):
        part_arr = np.zeros((1, len(parts)), dtype=[("part_name", "O"), ("mask", "O")])
        for j, (part_name, part_mask) in enumerate(parts):
            part_arr[0, j] = (part_name, part_mask.astype(np.uint8))
        if not parts:
            part_arr = np.zeros((0, 0))
        objs[0, i] = (name, np.array([[index]]), mask.astype(np.uint8), part_arr)
    anno = np.zeros((1, 1), dtype=[("imname", "O"), ("objects", "O")])
    anno[0, 0] = (imname, objs)
    return _mat_bytes({"anno": anno})


def _normals_to_png(normals: np.ndarray) -> np.ndarray:
    """RGB uint8 with v = (n + 1) / 2 * 255; invalid (zero) -> 128."""
    rgb = np.round((normals + 1) / 2 * 255).clip(0, 255).astype(np.uint8)
    rgb[~normals.any(axis=2)] = 128
    return rgb


def _ignore_patch(rng: np.random.Generator, shape: Tuple[int, int]) -> np.ndarray:
    """A random rectangle covering about 1/16 of the image."""
    h, w = shape
    ph, pw = max(h // 4, 1), max(w // 4, 1)
    y, x = rng.integers(0, h - ph + 1), rng.integers(0, w - pw + 1)
    mask = np.zeros(shape, dtype=bool)
    mask[y : y + ph, x : x + pw] = True
    return mask


def _write(path: str, content: bytes) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)


def _save_npy(path: str, array: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    np.save(path, array)


def _save_png(path: str, array: np.ndarray, rgb: bool = False) -> None:
    # mmcv writes BGR; our RGB arrays are reversed so the file holds RGB
    mmcv.imwrite(array[..., ::-1] if rgb else array, path)


def _write_nyud_item(root, img_id, scene, rng, png: bool) -> None:
    img_ext = ".png" if png else ".jpg"
    mmcv.imwrite(scene["img"], osp.join(root, "images", img_id + img_ext))
    unlabeled = _ignore_patch(rng, scene["semseg"].shape)
    seg = NYUD_CLASS_MAP[scene["semseg"]] + 1
    seg[unlabeled] = 0
    _save_png(osp.join(root, "segmentation", img_id + ".png"), seg)
    depth = scene["depth"].copy()
    depth[unlabeled] = 0  # depth holes, as the Kinect leaves them
    _save_npy(osp.join(root, "depth", img_id + ".npy"), depth.astype(np.float32))
    normals = scene["normals"].copy()
    normals[unlabeled] = 0
    if png:
        _save_png(
            osp.join(root, "normals", img_id + ".png"),
            _normals_to_png(normals),
            rgb=True,
        )
        _save_png(osp.join(root, "edge", img_id + ".png"), scene["edge"] * 255)
    else:
        _save_npy(osp.join(root, "normals", img_id + ".npy"), normals)
        _save_npy(
            osp.join(root, "edge", img_id + ".npy"), scene["edge"].astype(np.float32)
        )


def _part_objects(scene) -> list:
    parts = scene["parts"]
    objects = []
    semseg = PASCAL_CLASS_MAP[scene["semseg"]]
    for index, name in PASCAL_CLASS_NAMES.items():
        mask = semseg == index
        if index == 15 or not mask.any():
            continue
        objects.append((name, index, mask, []))
    if (parts != 255).any():
        person_parts = []
        for group, (left, right) in PART_NAMES.items():
            mask = parts == group
            cols = np.nonzero(mask.any(axis=0))[0]
            if cols.size:
                # split each part in two names so the grouping is exercised
                mid = (cols[0] + cols[-1] + 1) // 2
                person_parts.append((left, mask & (np.arange(mask.shape[1]) < mid)))
                person_parts.append((right, mask & (np.arange(mask.shape[1]) >= mid)))
        if not person_parts:  # a fully occluded person: parts known to be absent
            person_parts.append(("torso", np.zeros(parts.shape, dtype=bool)))
        objects.append(("person", 15, semseg == 15, person_parts))
    return objects


def _write_pascal_item(root, img_id, scene, rng) -> None:
    mmcv.imwrite(scene["img"], osp.join(root, "JPEGImages", img_id + ".jpg"))
    seg = PASCAL_CLASS_MAP[scene["semseg"]]
    seg[_ignore_patch(rng, seg.shape)] = 255
    _save_png(osp.join(root, "semseg", "pascal-context", img_id + ".png"), seg)
    _write(
        osp.join(root, "human_parts", img_id + ".mat"),
        encode_pascal_part_mat(_part_objects(scene), img_id),
    )
    # soft saliency on both sides of the 0.5 threshold: 127 -> 0, 128 -> 1
    sal = np.where(
        scene["saliency"] == 1,
        rng.choice([128, 200, 255], scene["saliency"].shape),
        rng.choice([0, 60, 127], scene["saliency"].shape),
    ).astype(np.uint8)
    _save_png(osp.join(root, "sal_distill", img_id + ".png"), sal)
    _save_png(
        osp.join(root, "normals_distill", img_id + ".png"),
        _normals_to_png(scene["normals"]),
        rgb=True,
    )
    # the PASCAL-Context label map (459 classes): the scene's classes and
    # parts as context labels, some above 255
    context = PASCAL_CONTEXT_LABELS[scene["semseg"]].astype(np.uint16)
    context[scene["parts"] != 255] += scene["parts"][scene["parts"] != 255]
    _write(
        osp.join(root, "pascal-context", "trainval", img_id + ".mat"),
        _mat_bytes({"LabelMap": context}),
    )


def _mat_bytes(content: dict) -> bytes:
    buf = io.BytesIO()
    savemat(buf, content)
    return buf.getvalue()


def _write_cityscapes_item(root, split, stem, scene, rng, drop) -> None:
    city = stem.split("_")[0]

    def path(folder, suffix):
        return osp.join(root, folder, split, city, stem + suffix)

    mmcv.imwrite(scene["img"], path("leftImg8bit", "_leftImg8bit.png"))
    holes = _ignore_patch(rng, scene["semseg"].shape)
    if "semseg" not in drop:
        label_ids = CITYSCAPES_LABEL_IDS[scene["semseg"]]
        label_ids[holes] = 0  # "unlabeled"
        _save_png(path("gtFine", "_gtFine_labelIds.png"), label_ids)
        train_ids = CITYSCAPES_TRAIN_IDS[scene["semseg"]]
        train_ids[holes] = 255
        _save_png(path("gtFine", "_gtFine_labelTrainIds.png"), train_ids)
    if "depth" not in drop:
        # a focal length of the image width keeps the disparities of the
        # 1-6 m scenes within 16 bits
        fx = float(scene["img"].shape[1])
        disparity = CITYSCAPES_BASELINE * fx / scene["depth"]
        stored = np.round(disparity * 256 + 1).clip(2, 65535).astype(np.uint16)
        stored[holes | (scene["depth"] <= 0)] = 0
        _save_png(path("disparity", "_disparity.png"), stored)
        camera = dict(
            extrinsic=dict(baseline=CITYSCAPES_BASELINE),
            intrinsic=dict(fx=fx, fy=fx, u0=fx / 2, v0=scene["img"].shape[0] / 2),
        )
        _write(path("camera", "_camera.json"), json.dumps(camera).encode())


def _write_folder_item(root, img_id, scene, rng, drop) -> None:
    mmcv.imwrite(scene["img"], osp.join(root, "images", img_id + ".png"))
    holes = _ignore_patch(rng, scene["semseg"].shape)
    if "semseg" not in drop:
        seg = scene["semseg"].astype(np.uint8)
        seg[holes] = 255
        _save_png(osp.join(root, "semseg", img_id + ".png"), seg)
    if "depth" not in drop:
        depth_mm = np.round(scene["depth"] * 1000).clip(0, 65535).astype(np.uint16)
        depth_mm[holes] = 0
        _save_png(osp.join(root, "depth", img_id + ".png"), depth_mm)
    if "normals" not in drop:
        normals = scene["normals"].copy()
        normals[holes] = 0
        _save_npy(osp.join(root, "normals", img_id + ".npy"), normals)


def make_fake_dataset(
    out_dir: str,
    layout: str,
    num_train: int = 4,
    num_val: int = 2,
    img_size: Union[Tuple[int, int], Sequence[Tuple[int, int]]] = (48, 64),
    seed: int = 0,
    drop_half: Sequence[str] = (),
) -> Dict[str, list]:
    """Write the dataset; returns the ids of each split.

    Item ``i`` of a split is scene ``i`` of ``SyntheticScenesDataset(seed)``
    (train) or ``seed + 1`` (val), with the matching task set. ``img_size``
    is one (H, W) or a list of them, used in turn by the items of a split
    (real datasets mix image sizes). The tasks in ``drop_half`` have no label
    file for the odd items (cityscapes: semseg, depth; folder: semseg, depth,
    normals).
    """
    sizes = (
        [tuple(img_size)]
        if np.ndim(img_size) == 1
        else [tuple(size) for size in img_size]
    )
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    droppable = {"cityscapes": ("semseg", "depth"), "folder": FOLDER_TASKS}
    bad = sorted(set(drop_half) - set(droppable.get(layout, ())))
    if bad:
        raise ValueError(
            f"drop_half {bad}: the {layout} layout can leave out only "
            f"{list(droppable.get(layout, ()))}"
        )
    task_set = "pascal" if layout == "pascal" else "nyud"
    tasks = (
        ("semseg", "parts", "saliency", "normals", "edge")
        if task_set == "pascal"
        else ("semseg", "depth", "normals", "edge")
    )
    split_dir = {"pascal": osp.join("ImageSets", "Context"), "folder": "splits"}.get(
        layout, "gt_sets"
    )
    ids = {}
    for offset, (split, num) in enumerate((("train", num_train), ("val", num_val))):
        scenes = [
            SyntheticScenesDataset(
                task_set,
                num_samples=max(num, 1),
                img_size=size,
                seed=seed + offset,
                tasks=tasks,
            )
            for size in sizes
        ]
        rng = np.random.default_rng([seed, offset, 12345])
        ids[split] = []
        for index in range(num):
            img_id = (
                f"{2008 + offset}_{index:06d}"
                if task_set == "pascal"
                else f"{offset}{index:05d}"
            )
            results = scenes[index % len(scenes)].render(index)
            scene = {task: results[TASKS[task].results_key] for task in tasks}
            scene["img"] = results["img"]
            drop = set(drop_half) if index % 2 else set()
            if layout == "cityscapes":
                img_id = f"{('aachen', 'frankfurt')[offset]}_{index:06d}_000019"
                _write_cityscapes_item(out_dir, split, img_id, scene, rng, drop)
            elif layout == "folder":
                _write_folder_item(out_dir, img_id, scene, rng, drop)
            elif task_set == "pascal":
                _write_pascal_item(out_dir, img_id, scene, rng)
            else:
                _write_nyud_item(out_dir, img_id, scene, rng, png=layout == "nyud-png")
            ids[split].append(img_id)
        if layout != "cityscapes":
            _write(
                osp.join(out_dir, split_dir, f"{split}.txt"),
                ("\n".join(ids[split]) + "\n").encode(),
            )
    return ids


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="root of the dataset to write")
    parser.add_argument("--layout", choices=LAYOUTS, default="nyud")
    parser.add_argument("--num-train", type=int, default=8)
    parser.add_argument("--num-val", type=int, default=4)
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        action="append",
        metavar=("H", "W"),
        help="image size; repeat it to mix sizes (default: 96 128)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--drop-half",
        nargs="+",
        default=[],
        metavar="TASK",
        help="leave out these tasks' labels for every other image "
        "(layouts cityscapes, folder)",
    )
    return parser.parse_args()


def main():
    args = parse_args()
    ids = make_fake_dataset(
        args.out_dir,
        args.layout,
        args.num_train,
        args.num_val,
        args.size or [(96, 128)],
        args.seed,
        args.drop_half,
    )
    print(
        f"wrote a {args.layout} dataset to {args.out_dir}: "
        f"{len(ids['train'])} train, {len(ids['val'])} val"
    )


if __name__ == "__main__":
    main()
