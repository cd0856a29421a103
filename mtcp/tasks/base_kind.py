"""The base class of task kinds: everything done differently per kind of map."""

from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
import torch.nn.functional as F

from .label_io import resize_nearest
from .legend import Legend
from .registry import TASK_KINDS
from .task_table import IGNORE_INDEX, TASKS, TaskInfo, get_task

_INSTANCES: Dict[str, "BaseTaskKind"] = {}


def task_kind(task: str) -> "BaseTaskKind":
    """The kind (an instance of its registered class) of task ``task``."""
    kind = get_task(task).kind
    if kind not in _INSTANCES:
        _INSTANCES[kind] = TASK_KINDS.build(dict(type=kind))
    return _INSTANCES[kind]


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) to ``size``; a no-op at that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class BaseTaskKind:
    """Everything mtcp does differently for one kind of dense map.

    One subclass per kind, in one file, registered in
    :data:`~mtcp.tasks.TASK_KINDS`. The transforms, the model's heads, the
    metric, the visualizer, the prediction writer and the tools ask the
    kind of a task (:func:`task_kind`) and never branch on it. The defaults
    here suit a single-channel map; a kind overrides what differs.

    Label maps in a pipeline are numpy arrays (H, W) or (H, W, C); packed
    labels and predictions are tensors (C, H, W); model outputs (B, C, H, W).

    Class attributes:
        channels (int): Channels of the label map when the task does not set
            them (:attr:`TaskInfo.channels`).
        takes_classes (bool): The model predicts one channel per class, the
            count given by the config (``num_classes``) or the dataset.
        pad_value (float): Value of padded and unlabelled label pixels.
        suffixes (tuple[str]): Label file suffixes it reads, preferred first.
        default_loss (dict): Loss config of the task's head.
        has_meter (bool): ``MultiTaskMetric`` can score the kind
            (:meth:`build_meter`).
        delta_m (tuple[str, bool], optional): The meter figure that enters
            Delta_m and whether lower is better; None keeps the kind out.
        metric_options (tuple[str]): ``MultiTaskMetric`` arguments passed to
            its meter (e.g. ``'max_depth'``).
        label_options (tuple[str]): Per-task options of the folder dataset
            besides ``folder`` and ``suffix`` (e.g. ``'scale'``).
        overlay (bool): Panels blend the coloured map over the input image
            (with the visualizer's ``alpha``, mmseg's ``opacity``).
        export_format (str, optional): How the torch-free ONNX runtime
            (``tools/deployment/onnx_infer.py``) saves and colours the
            prediction: ``'class'``, ``'depth'``, ``'normals'``,
            ``'probability'`` or ``'boundary'``; None: not exportable.
    """

    channels: int = 1
    takes_classes: bool = False
    pad_value: float = IGNORE_INDEX
    suffixes: Tuple[str, ...] = ()
    default_loss: dict = {}
    has_meter: bool = True
    delta_m: Optional[Tuple[str, bool]] = None
    metric_options: Tuple[str, ...] = ()
    label_options: Tuple[str, ...] = ()
    overlay: bool = False
    export_format: Optional[str] = None

    @property
    def name(self) -> str:
        return type(self).__name__

    # ------------------------------------------------------------ labels on disk

    def decode(self, content: bytes, path: str, options: dict) -> np.ndarray:
        """Decode and check a label file.

        Args:
            content (bytes): The file.
            path (str): Its path (the suffix chooses the format; messages).
            options (dict): ``task``, ``shape`` (the image's (H, W)), ``num_classes``,
                ``reduce_zero_label``, ``backend_args`` and the task's
                ``label_options`` from the dataset.

        Returns:
            np.ndarray: The label map, (H, W) or (H, W, C).
        """
        raise NotImplementedError(f"{self.name} cannot read label files")

    def unsupported(self, path: str) -> ValueError:
        """The error for a label file of a suffix this kind cannot read."""
        return ValueError(
            f"{path}: a {self.name} label cannot be read from a "
            f"{path[path.rfind('.') :]!r} file; supported: {list(self.suffixes)}"
        )

    def check_label_options(self, options: dict, suffix: str, where: str) -> dict:
        """Check a task's folder-dataset options (:attr:`label_options`) for
        labels stored with ``suffix``; returns what :meth:`decode` receives."""
        return dict(options)

    def encode(self, label: np.ndarray, path_stem: str, suffix: str) -> str:
        """Write a label map in the format :meth:`decode` reads for ``suffix``
        (fake datasets); returns the path."""
        raise NotImplementedError(f"{self.name} cannot write label files")

    def missing_label(self, shape: Tuple[int, int], info: TaskInfo) -> np.ndarray:
        """The label map of an image without a label: every pixel ignored."""
        channels = self.label_channels(info)
        full = (*shape, channels) if channels > 1 else tuple(shape)
        return np.full(full, self.pad_value, dtype=self.label_dtype)

    #: dtype of a decoded label map
    label_dtype = np.uint8

    def plausibility(
        self, label: np.ndarray, dataset: Optional[str] = None
    ) -> List[str]:
        """Warnings for a label map that loads but looks wrong (``dataset``:
        'nyud', 'pascal', ... for checks that depend on it)."""
        return []

    # ------------------------------------------------------ geometric transforms

    def resize_label(
        self, label: np.ndarray, size: Tuple[int, int], scale: float
    ) -> np.ndarray:
        """Resize a label map to ``size`` = (w, h); ``scale`` is the image's
        scale factor (geometric mean of w and h)."""
        return resize_nearest(label, size)

    def flip_label(self, label: np.ndarray, direction: str) -> np.ndarray:
        """Mirror a label map ('horizontal', 'vertical' or 'diagonal')."""
        return mmcv.imflip(label, direction=direction).copy()

    def pack(self, label: np.ndarray) -> torch.Tensor:
        """The label map as the data sample's (C, H, W) tensor."""
        return torch.from_numpy(label[None].astype(np.int64))

    def label_channels(self, info: TaskInfo) -> int:
        return self.channels if info.channels is None else info.channels

    # --------------------------------------------------------------------- model

    def num_outputs(self, info: TaskInfo, num_classes: Optional[int]) -> int:
        """Channels the model predicts for the task."""
        if not self.takes_classes:
            return self.label_channels(info)
        if num_classes is None:
            raise ValueError(
                f"task {info.name!r} predicts classes; give their number in "
                f"num_classes, e.g. num_classes=dict({info.name}=40)"
            )
        if int(num_classes) != num_classes or num_classes < 2:
            raise ValueError(
                f"num_classes[{info.name!r}] must be an integer >= 2, got {num_classes}"
            )
        return int(num_classes)

    def loss_target(self, gt: torch.Tensor) -> torch.Tensor:
        """The stacked labels (B, C, H, W) as the loss takes them (a kind
        whose labels are stored in another form converts them here)."""
        return gt

    def labelled(self, gt: torch.Tensor) -> torch.Tensor:
        """Boolean (B, 1, H, W) mask of the labelled pixels of ``gt``."""
        return gt != self.pad_value

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        """Map raw outputs (B, C, H, W) to the task's prediction."""
        raise NotImplementedError

    def flip_back(self, pred: torch.Tensor, direction: str) -> torch.Tensor:
        """Undo a 'horizontal' or 'vertical' flip of (B, C, H, W)."""
        if direction not in ("horizontal", "vertical"):
            raise ValueError(
                f"{self.name} cannot undo flip_direction {direction!r}; "
                "supported: 'horizontal', 'vertical'"
            )
        return pred.flip(-1 if direction == "horizontal" else -2)

    def restore(self, raw: torch.Tensor, meta: dict) -> torch.Tensor:
        """Map one raw output (1, C, h, w) back to the original image:
        padding cropped (``img_shape``), resized to ``ori_shape``, a flip
        recorded in the meta undone; no activation."""
        for key in ("batch_input_shape", "img_shape", "ori_shape"):
            if key not in meta:
                raise KeyError(
                    f"predict: data sample meta lacks {key!r}; run the inputs "
                    "through MultiTaskDataPreProcessor and a pipeline that sets it"
                )
        img_h, img_w = meta["img_shape"][:2]
        pred = resize(raw, meta["batch_input_shape"])[..., :img_h, :img_w]
        pred = resize(pred, meta["ori_shape"][:2])
        if meta.get("flip", False):
            pred = self.flip_back(pred, meta.get("flip_direction"))
        return pred

    def predictions(
        self, restored: torch.Tensor, info: TaskInfo
    ) -> Dict[str, torch.Tensor]:
        """The data-sample fields of one restored output (1, C, H, W):
        ``pred_<field>`` (C', H, W)."""
        return {info.pred_field: self.activate(restored)[0]}

    def merge_views(self, views: Sequence, info: TaskInfo) -> Dict[str, torch.Tensor]:
        """Merge one image's test-time augmented views (data samples whose
        predictions are already restored to the original image): by default
        the mean of ``pred_<field>``. Returns the fields of a plain
        prediction."""
        return {info.pred_field: stacked(views, info.pred_field).mean(dim=0)}

    def random_label(
        self, num_classes: Optional[int], size: Sequence[int], generator
    ) -> torch.Tensor:
        """A random label map (C, H, W), every pixel labelled (benchmarks)."""
        raise NotImplementedError

    def random_prediction(
        self, num_classes: Optional[int], size: Sequence[int], generator
    ) -> torch.Tensor:
        """A random prediction (C, H, W) as ``predict`` gives it."""
        return self.random_label(num_classes, size, generator)

    # ---------------------------------------------------------------- evaluation

    def build_meter(
        self,
        info: TaskInfo,
        num_classes: Optional[int],
        class_names: Optional[Sequence[str]],
        **options,
    ):
        """The meter scoring the task (:class:`~mtcp.evaluation.BaseMeter`).

        ``options`` are the kind's :attr:`metric_options` and the task's
        entry of ``MultiTaskMetric(meters=...)``. Kinds import their meter
        class here, not at the top of their file: :mod:`mtcp.evaluation`
        itself imports this package.
        """
        raise NotImplementedError(f"{self.name} has no meter")

    # ------------------------------------------------------------------- output

    def colorize(
        self,
        data: np.ndarray,
        palette: Optional[Sequence[Sequence[int]]] = None,
        vmin: Optional[float] = None,
        vmax: Optional[float] = None,
    ) -> np.ndarray:
        """A label or prediction map (C, H, W) as an (H, W, 3) RGB picture."""
        raise NotImplementedError

    def legend(
        self,
        data: np.ndarray,
        palette: Optional[Sequence[Sequence[int]]] = None,
        class_names: Optional[Sequence[str]] = None,
        vmin: Optional[float] = None,
        vmax: Optional[float] = None,
    ) -> Optional[Legend]:
        """How to read :meth:`colorize`'s picture of ``data`` (same
        arguments, plus the class names of a class map): None when the
        colours need no key."""
        return None

    def write(self, pred: np.ndarray, path_stem: str, reduce_zero_label: bool) -> str:
        """Save a prediction (C, H, W); returns the written file."""
        raise NotImplementedError


def stacked(views: Sequence, field: str) -> torch.Tensor:
    """``field`` of every view, stacked to (V, C, H, W)."""
    maps = []
    for i, view in enumerate(views):
        if field not in view:
            raise KeyError(
                f"test-time augmentation: view {i} of {view.metainfo.get('img_path')} "
                f"has no {field!r}; every view must predict the same fields"
            )
        maps.append(getattr(view, field).data)
    shapes = {tuple(m.shape) for m in maps}
    if len(shapes) > 1:
        raise ValueError(
            f"test-time augmentation: the views of {views[0].metainfo.get('img_path')} "
            f"predict {field!r} at different sizes {sorted(shapes)}; predictions "
            "must be mapped back to the original image size"
        )
    return torch.stack(maps)


def task_of_results_key(key: str, where: str) -> TaskInfo:
    """The task whose label map a pipeline stores under ``key``."""
    for info in TASKS.values():
        if info.results_key == key:
            return info
    raise KeyError(
        f"{where}: results['seg_fields'] lists {key!r}, which is no task's label "
        f"map (expected one of {sorted(i.results_key for i in TASKS.values())})"
    )
