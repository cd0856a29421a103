from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mtcp.tasks import TASKS


class MultiTaskDataSample(SegDataSample):
    """Data sample carrying one :class:`PixelData` per task.

    It extends mmseg's :class:`SegDataSample` (``gt_sem_seg``,
    ``pred_sem_seg``, ``seg_logits``) with ``gt_<field>`` and
    ``pred_<field>`` for every task of :data:`mtcp.tasks.TASKS` (the
    built-in ``depth``, ``normals``, ``parts``, ``saliency`` and ``edge``,
    and tasks declared later). Each ``PixelData`` holds a ``data`` tensor of
    shape (C, H, W): C = 3 for normals, 1 otherwise. A prediction of a class-map task also keeps its
    logits on the original image as ``<field>_logits`` (C, H, W), e.g.
    ``sem_seg_logits``, which test-time augmentation averages.

    The meta information is mmseg's: ``img_path``, ``ori_shape``,
    ``img_shape``, ``pad_shape``, ``scale_factor``, ``flip`` and
    ``flip_direction``.
    """

    def has_gt(self, task: str) -> bool:
        return TASKS[task].gt_field in self

    def get_gt(self, task: str) -> PixelData:
        return getattr(self, TASKS[task].gt_field)

    def set_gt(self, task: str, value: PixelData) -> None:
        setattr(self, TASKS[task].gt_field, value)

    def get_pred(self, task: str) -> PixelData:
        return getattr(self, TASKS[task].pred_field)

    def set_pred(self, task: str, value: PixelData) -> None:
        setattr(self, TASKS[task].pred_field, value)


def _pixel_property(name: str) -> property:

    def getter(self):
        return getattr(self, f"_{name}")

    def setter(self, value: PixelData):
        self.set_field(value, f"_{name}", dtype=PixelData)

    def deleter(self):
        del self[f"_{name}"]

    return property(getter, setter, deleter)


for _info in TASKS.values():
    if _info.field == "sem_seg":
        continue
    for _name in (_info.gt_field, _info.pred_field):
        setattr(MultiTaskDataSample, _name, _pixel_property(_name))
