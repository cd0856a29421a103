"""Inference API, like ``mmseg.apis``: build a model, predict images, save.

Example::

    from mtcp.apis import inference_model, init_model, show_result
    model = init_model('configs/mtcp_demo.py', 'work_dirs/mtcp_demo/best.pth')
    (sample,) = inference_model(model, 'room.png')
    show_result(model, 'room.png', sample, out_dir='out')
"""

import glob
import logging
import os.path as osp
from typing import List, Optional, Sequence, Union

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel
from mmengine.registry import init_default_scope
from mmengine.utils import mkdir_or_exist, scandir
from mmseg.registry import DATASETS, MODELS

from mtcp.structures import TASKS, MultiTaskDataSample, get_task
from mtcp.tasks import declare_tasks
from mtcp.utils.config_lookup import find_config
from mtcp.utils.prediction_writer import write_predictions
from mtcp.utils.strict_loading import load_checkpoint_strictly
from mtcp.visualization import MultiTaskVisualizer

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# Transforms that read from disk: inference reads the image itself (an error
# names the file) and has no labels.
LOADING_TRANSFORMS = ("LoadImageFromFile", "LoadMultiTaskAnnotations")
# The visualizer instance that draws the inference panels.
PANEL_VISUALIZER = "mtcp_inference"
ImageType = Union[str, np.ndarray]


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
    check_output_names(paths)
    return sorted(paths)


def output_name(path: str) -> str:
    """The stem of the output files of image ``path``: its file name stem."""
    return osp.splitext(osp.basename(path))[0]


def check_output_names(paths: Sequence[str]) -> None:
    """Raise if two of the image files would write the same output files."""
    names = {}
    for path in paths:
        name = output_name(path)
        if name in names:
            raise ValueError(
                f"{names[name]} and {path} would write the same output files "
                f"(name {name!r}); run them separately"
            )
        names[name] = path


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


def _without_loading(transforms: Sequence[dict]) -> List[dict]:
    """``transforms`` without :data:`LOADING_TRANSFORMS`, also inside
    ``TestTimeAug``."""
    kept = []
    for transform in transforms:
        if transform["type"] in LOADING_TRANSFORMS:
            continue
        if transform["type"] == "TestTimeAug":
            steps = [_without_loading(step) for step in transform["transforms"]]
            transform = dict(transform, transforms=[step for step in steps if step])
        kept.append(transform)
    return kept


class InferencePipeline:
    """A test pipeline for image files and RGB arrays.

    :meth:`load` reads a file (an error names it) or takes an (H, W, 3)
    RGB array, and :meth:`transform` runs the rest of the test pipeline on
    it, BGR as ``LoadImageFromFile`` would have loaded it.

    Args:
        transforms (Sequence[dict]): The pipeline after image loading.
    """

    def __init__(self, transforms: Sequence[dict]) -> None:
        self.transform = Compose(transforms)

    @property
    def transforms(self) -> list:
        return self.transform.transforms

    @staticmethod
    def load(image: ImageType) -> dict:
        """The pipeline's ``results`` of one image before its transforms."""
        if isinstance(image, str):
            rgb, path = read_image(image), image
        else:
            rgb, path = np.asarray(image), None
            if rgb.ndim != 3 or rgb.shape[2] != 3:
                raise ValueError(
                    f"an image array must be RGB (H, W, 3), got shape {rgb.shape}"
                )
        shape = rgb.shape[:2]
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        return dict(img=bgr, img_path=path, img_shape=shape, ori_shape=shape)

    def __call__(self, image: ImageType) -> dict:
        return self.transform(self.load(image))


def build_inference_pipeline(cfg: Config, tta: bool = False) -> InferencePipeline:
    """The test pipeline of ``cfg`` (``tta_pipeline`` with ``tta``) for
    image files and arrays: without its image and annotation loading, which
    :meth:`InferencePipeline.load` replaces (a pipeline for in-memory data,
    such as the synthetic scenes', starts after loading anyway)."""
    source = cfg.tta_pipeline if tta else cfg.test_dataloader.dataset.pipeline
    return InferencePipeline(_without_loading(source))


def check_tta_config(cfg: Config, name: str) -> None:
    """Raise unless ``cfg`` (the config ``name``) has ``tta_model`` and
    ``tta_pipeline``, which test-time augmentation needs."""
    missing = [key for key in ("tta_model", "tta_pipeline") if key not in cfg]
    if missing:
        raise ValueError(
            f"test-time augmentation needs tta_model and tta_pipeline in the "
            f"config; {name} has no {' and no '.join(missing)} (see "
            "configs/_base_/default_runtime.py and configs/_base_/datasets/nyud.py)"
        )


def reduces_zero_label(cfg: Config) -> bool:
    """Whether the config's test dataset stores semseg as 1..K (NYUD), the
    convention its predictions are saved in."""
    dataset_cls = DATASETS.get(cfg.test_dataloader.dataset.type)
    return bool(getattr(dataset_cls, "REDUCE_ZERO_LABEL", False))


def init_model(
    config: Union[str, Config],
    checkpoint: Optional[str] = None,
    device: str = "cpu",
    tta: bool = False,
) -> torch.nn.Module:
    """Build the model of ``config``, load ``checkpoint`` and switch to eval.

    Like ``mmseg.apis.init_model`` minus its EncoderDecoder-specific edits
    and its Cityscapes fallback: the class names and palettes come from the
    checkpoint's ``dataset_meta`` (saved by training), else from the config's
    test dataset. The checkpoint must fit the model exactly.

    Args:
        config (str or Config): Config file or object, or the name of one
            of mtcp's configs (``'mtcp_demo.py'``, see
            :func:`~mtcp.utils.find_config`).
        checkpoint (str, optional): Checkpoint file; None keeps the
            initial, random weights and logs a warning saying so.
        device (str): Device to run on. Default: 'cpu'.
        tta (bool): Test-time augmentation: the model is wrapped in the
            config's ``tta_model`` and :func:`inference_model` predicts the
            views of its ``tta_pipeline`` (as ``tools/test.py --tta``).
    """
    name = config if isinstance(config, str) else None
    name = name or getattr(config, "filename", None) or "the config"
    if isinstance(config, str):
        config = Config.fromfile(find_config(config))
    cfg = config.copy()
    declare_tasks(cfg.get("task_table"))
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f"Checkpoint file not found: {checkpoint}")
    if tta:
        check_tta_config(cfg, name)
    init_default_scope(cfg.get("default_scope", "mmseg"))
    model = MODELS.build(cfg.model)
    meta = None
    if checkpoint is not None:
        # strict: a checkpoint of another config would leave random weights
        meta = load_checkpoint_strictly(model, checkpoint).get("meta", {})
        meta = meta.get("dataset_meta")
        if meta is None:
            print_log(
                f"{checkpoint} has no dataset_meta (class names, palettes); "
                "taking them from the config's test dataset",
                logger="current",
                level=logging.WARNING,
            )
    else:
        print_log(
            f"No checkpoint given: the model of {name} keeps its initial, "
            "random weights and its predictions mean nothing; pass the "
            "checkpoint of a trained model",
            logger="current",
            level=logging.WARNING,
        )
    if meta is None:
        dataset_cfg = dict(cfg.test_dataloader.dataset, lazy_init=True)
        meta = DATASETS.build(dataset_cfg).metainfo
    if tta:
        model = MODELS.build(dict(**cfg.tta_model, module=model))
    model.dataset_meta = meta
    model.cfg = cfg
    model.to(device)
    model.eval()
    return model


def inference_model(
    model: torch.nn.Module, images: Union[ImageType, Sequence[ImageType]]
) -> List[MultiTaskDataSample]:
    """Predict every task of ``model`` on image files or RGB arrays (H, W, 3).

    A model from ``init_model(..., tta=True)`` predicts the views of the
    config's ``tta_pipeline`` and merges them.

    Returns:
        list[MultiTaskDataSample]: One sample per image with ``pred_<field>``
        at the image's original size.
    """
    if isinstance(images, (str, np.ndarray)):
        images = [images]
    pipeline = build_inference_pipeline(model.cfg, isinstance(model, BaseTTAModel))
    with torch.no_grad():
        return model.test_step(pseudo_collate([pipeline(image) for image in images]))


def predicted_tasks(
    sample: MultiTaskDataSample, tasks: Optional[Sequence[str]], name: str
) -> List[str]:
    """``tasks`` (every task ``sample`` predicts when None), checked to be
    predicted in the sample of image ``name``."""
    predicted = [t for t, info in TASKS.items() if info.pred_field in sample]
    if tasks is None:
        return predicted
    tasks = [get_task(t).name for t in tasks]
    missing = [t for t in tasks if t not in predicted]
    if missing:
        raise ValueError(
            f"tasks {missing} were not predicted for {name}; the model "
            f"predicts {predicted}"
        )
    return tasks


def save_predictions(
    model: torch.nn.Module,
    sample: MultiTaskDataSample,
    tasks: Sequence[str],
    out_dir: str,
    name: str,
) -> List[str]:
    """Write the predictions of ``tasks`` as ``out_dir/<task>/<name>.<ext>``
    (:mod:`mtcp.utils.prediction_writer`); returns the files."""
    preds = {t: getattr(sample, TASKS[t].pred_field).data for t in tasks}
    return write_predictions(preds, out_dir, name, reduces_zero_label(model.cfg))


def draw_panel(
    model: torch.nn.Module,
    image: np.ndarray,
    sample: MultiTaskDataSample,
    tasks: Sequence[str],
    name: str,
    opacity: float = 0.8,
    out_file: Optional[str] = None,
    show: bool = False,
    wait_time: float = 0,
) -> np.ndarray:
    """The panel of a prediction: the RGB ``image`` and every task of
    ``tasks`` coloured, with legends, class maps blended over the image with
    ``opacity`` (:class:`~mtcp.visualization.MultiTaskVisualizer`); written
    to ``out_file`` and/or shown (window ``name``) when asked."""
    visualizer = MultiTaskVisualizer.get_instance(PANEL_VISUALIZER)
    visualizer.tasks = list(tasks)
    visualizer.dataset_meta = model.dataset_meta
    visualizer.alpha = opacity
    if out_file is not None:
        mkdir_or_exist(osp.dirname(out_file))
    visualizer.add_datasample(
        name,
        image,
        sample,
        draw_gt=False,
        show=show,
        wait_time=wait_time,
        out_file=out_file,
    )
    return visualizer.get_image()


def show_result(
    model: torch.nn.Module,
    image: ImageType,
    sample: MultiTaskDataSample,
    out_dir: str,
    name: Optional[str] = None,
    tasks: Optional[Sequence[str]] = None,
    opacity: float = 0.8,
) -> List[str]:
    """Save a sample's predictions and its panel under ``out_dir``.

    Writes ``out_dir/<task>/<name>.<ext>`` (see
    :mod:`mtcp.utils.prediction_writer`) and ``out_dir/panels/<name>.png``
    (:func:`draw_panel`).

    Args:
        model (nn.Module): The model from :func:`init_model`.
        image (str or ndarray): The image file or RGB array predicted.
        sample (MultiTaskDataSample): Its prediction.
        out_dir (str): Output folder.
        name (str, optional): File name stem; the image file's by default.
        tasks (list[str], optional): Tasks to save; every predicted one by
            default.
        opacity (float): Opacity of the class maps over the image in the
            panel. Default: 0.8.

    Returns:
        list[str]: The written files, the panel last.
    """
    if name is None:
        if not isinstance(image, str):
            raise ValueError("show_result needs a name for an image array")
        name = output_name(image)
    if isinstance(image, str):
        image = read_image(image)
    tasks = predicted_tasks(sample, tasks, name)
    files = save_predictions(model, sample, tasks, out_dir, name)
    panel = osp.join(out_dir, "panels", f"{name}.png")
    draw_panel(model, image, sample, tasks, name, opacity, out_file=panel)
    return files + [panel]
