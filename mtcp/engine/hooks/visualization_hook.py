import os.path as osp
import warnings
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.visualization import Visualizer
from mmseg.registry import HOOKS

from mtcp.structures import MultiTaskDataSample

SampleList = Sequence[MultiTaskDataSample]


@HOOKS.register_module()
class MultiTaskVisualizationHook(Hook):
    """Draw validation and test samples with the multi-task visualizer.

    Like mmseg's ``SegVisualizationHook``: during validation every
    ``interval``-th sample is drawn; during testing every sample is. Panels go
    to ``out_dir`` when it is set (``tools/test.py --show-dir``), otherwise to
    the visualizer's backends (``LocalVisBackend``, TensorBoard, ...).

    Drawing happens on the main process (rank 0) only, as in mmseg: in a
    multi-process test only the samples of rank 0 are drawn.

    The input tile is the image as packed by the pipeline (``data_batch
    ['inputs']``, cropped to ``img_shape``), not a second read of
    ``img_path``: that works for in-memory datasets too (the synthetic
    scenes' ``img_path`` is not a file) and shows what the network saw. With
    test-time augmentation it is the first view's image (the plain one in
    the shipped ``tta_pipeline`` configs).

    Args:
        draw (bool): Whether to draw at all. Defaults to False.
        interval (int): Draw every ``interval``-th validation sample.
            Defaults to 50.
        show (bool): Whether to display the panels in a window. Defaults to
            False.
        wait_time (float): Seconds a shown panel stays up. Defaults to 0.
        out_dir (str, optional): Directory to write the panels to, as
            ``<img name>.png`` (test) and ``val_iter<N>_<img name>.png``
            (validation). Defaults to None.
        draw_gt (bool): Whether to draw the ground truth. Defaults to True.
        draw_pred (bool): Whether to draw the predictions. Defaults to True.
    """

    def __init__(
        self,
        draw: bool = False,
        interval: int = 50,
        show: bool = False,
        wait_time: float = 0.0,
        out_dir: Optional[str] = None,
        draw_gt: bool = True,
        draw_pred: bool = True,
    ) -> None:
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        self._visualizer: Visualizer = Visualizer.get_current_instance()
        self.draw = draw
        self.interval = interval
        self.show = show
        if self.show:
            # A shown panel should not also be written by every backend.
            self._visualizer._vis_backends = {}
            warnings.warn(
                "show=True: the panels are only displayed, not saved to the "
                "visualizer's backends"
            )
        self.wait_time = wait_time
        self.out_dir = out_dir
        self.draw_gt = draw_gt
        self.draw_pred = draw_pred
        self._val_index = 0
        self._test_index = 0

    @staticmethod
    def _input_image(
        data_batch: dict, index: int, data_sample: MultiTaskDataSample
    ) -> np.ndarray:
        inputs = data_batch["inputs"]
        if isinstance(inputs[0], (list, tuple)):
            # test-time augmentation: one list per view; the merged sample
            # carries the first view's meta information
            inputs = inputs[0]
        img = inputs[index]
        height, width = data_sample.metainfo.get("img_shape", img.shape[-2:])
        # packed images are (3, H, W) BGR; the visualizer draws RGB
        img = img[:, :height, :width].detach().cpu().numpy()
        return np.ascontiguousarray(img.transpose(1, 2, 0)[..., ::-1])

    @staticmethod
    def _image_name(data_sample: MultiTaskDataSample, index: int) -> str:
        img_path = data_sample.metainfo.get("img_path")
        if img_path is None:
            return str(index)
        return osp.splitext(osp.basename(img_path))[0]

    def _draw(
        self,
        name: str,
        image: np.ndarray,
        data_sample: MultiTaskDataSample,
        out_name: str,
        step: int,
    ) -> None:
        out_file = None
        if self.out_dir is not None:
            out_file = osp.join(self.out_dir, f"{out_name}.png")
        self._visualizer.add_datasample(
            name,
            image,
            data_sample=data_sample,
            draw_gt=self.draw_gt,
            draw_pred=self.draw_pred,
            show=self.show,
            wait_time=self.wait_time,
            out_file=out_file,
            step=step,
        )

    def _to_draw(
        self, outputs: SampleList
    ) -> Iterator[Tuple[int, MultiTaskDataSample]]:
        """(batch index, data sample) of every output; none unless ``draw``."""
        return enumerate(outputs) if self.draw else iter(())

    def before_val_epoch(self, runner: Runner) -> None:
        self._val_index = 0

    def after_val_iter(
        self, runner: Runner, batch_idx: int, data_batch: dict, outputs: SampleList
    ) -> None:
        for index, data_sample in self._to_draw(outputs):
            sample_index = self._val_index
            self._val_index += 1
            if sample_index % self.interval != 0:
                continue
            img_name = self._image_name(data_sample, sample_index)
            self._draw(
                f"val_{img_name}",
                self._input_image(data_batch, index, data_sample),
                data_sample,
                f"val_iter{runner.iter}_{img_name}",
                runner.iter,
            )

    def after_test_iter(
        self, runner: Runner, batch_idx: int, data_batch: dict, outputs: SampleList
    ) -> None:
        for index, data_sample in self._to_draw(outputs):
            self._test_index += 1
            img_name = self._image_name(data_sample, self._test_index)
            self._draw(
                f"test_{img_name}",
                self._input_image(data_batch, index, data_sample),
                data_sample,
                img_name,
                self._test_index,
            )
