from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmengine.dist import master_only
from mmengine.visualization import Visualizer
from mmseg.registry import VISUALIZERS

from mtcp.structures import TASKS, MultiTaskDataSample, get_task

from .colorize import colorize_task


@VISUALIZERS.register_module()
class MultiTaskVisualizer(Visualizer):
    """Draw a multi-task sample as one panel of tiles.

    Each row starts with the input image, followed by one tile per task:
    a ground-truth row (when drawn and the sample has ground truth) and a
    prediction row (when drawn and the sample has predictions). A task that
    has a prediction but no ground truth (or the reverse) leaves a black
    tile, so the columns stay aligned. Every tile is the size of the input
    image (maps are resized with nearest interpolation) and carries a small
    text label such as ``"depth GT"``.

    Colours come from :func:`mtcp.visualization.colorize.colorize_task`
    (the task's kind); class maps use their task's palette in
    ``dataset_meta`` (``palette`` for semseg, ``part_palette`` for parts),
    which must be present.

    Args:
        name (str): Name of the instance. Defaults to 'visualizer'.
        image (np.ndarray, optional): Image to draw on. Defaults to None.
        vis_backends (list[dict], optional): Visual backend configs.
        save_dir (str, optional): Directory of the backends' files.
        tasks (Sequence[str], optional): Tasks to draw, in this order;
            defaults to every task present in the sample, in the order of
            :data:`mtcp.tasks.TASKS`.
        font_size (int): Font size of the tile labels. Defaults to 10.
        dataset_meta (dict, optional): Dataset metainfo; the runner's loops
            also set it from the dataset.
    """

    def __init__(
        self,
        name: str = "visualizer",
        image: Optional[np.ndarray] = None,
        vis_backends: Optional[List[Dict]] = None,
        save_dir: Optional[str] = None,
        tasks: Optional[Sequence[str]] = None,
        font_size: int = 10,
        dataset_meta: Optional[dict] = None,
    ) -> None:
        super().__init__(
            name=name, image=image, vis_backends=vis_backends, save_dir=save_dir
        )
        if tasks is not None:
            tasks = [get_task(task).name for task in tasks]
        self.tasks = tasks
        self.font_size = font_size
        if dataset_meta is not None:
            self.dataset_meta = dataset_meta

    def _tasks_in(self, data_sample: MultiTaskDataSample, field: str) -> List[str]:
        names = self.tasks if self.tasks is not None else list(TASKS)
        return [name for name in names if getattr(TASKS[name], field) in data_sample]

    def _palette(self, task: str) -> Optional[Sequence]:
        key = TASKS[task].palette_key
        if key is None:
            return None
        palette = (self.dataset_meta or {}).get(key)
        if palette is None:
            raise ValueError(
                f"MultiTaskVisualizer: dataset_meta has no {key!r} to colour "
                f"the {task} map; set the visualizer's dataset_meta (the "
                "runner does so from the dataset's metainfo)"
            )
        return palette

    def _tile(
        self,
        task: str,
        data: np.ndarray,
        size: Tuple[int, int],
        crop: Optional[Tuple[int, int]] = None,
    ) -> np.ndarray:
        if crop is not None:
            # The data preprocessor pads ground truth in place to the batch
            # shape; the valid part is the packed image's size.
            data = data[..., : crop[0], : crop[1]]
        tile = colorize_task(task, data, palette=self._palette(task))
        if tile.shape[:2] != size:
            tile = mmcv.imresize(tile, (size[1], size[0]), interpolation="nearest")
        return tile

    def compose_panel(
        self,
        image: np.ndarray,
        data_sample: Optional[MultiTaskDataSample] = None,
        draw_gt: bool = True,
        draw_pred: bool = True,
    ) -> Tuple[np.ndarray, List[str], np.ndarray]:
        """Lay out the tiles of a sample without drawing the labels.

        Args:
            image (np.ndarray): RGB input image (H, W, 3) uint8.
            data_sample (MultiTaskDataSample, optional): Sample with
                ``gt_<field>`` and/or ``pred_<field>`` data.
            draw_gt (bool): Whether to add the ground-truth row.
            draw_pred (bool): Whether to add the prediction row.

        Returns:
            tuple: The panel (rows * H, (1 + tasks) * W, 3) uint8, the tile
            labels and their (x, y) positions, an (N, 2) array.
        """
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"MultiTaskVisualizer expects an (H, W, 3) RGB image, got shape "
                f"{image.shape}"
            )
        image = image.astype(np.uint8)
        height, width = image.shape[:2]
        rows = []
        if data_sample is not None:
            gt_tasks = self._tasks_in(data_sample, "gt_field") if draw_gt else []
            pred_tasks = self._tasks_in(data_sample, "pred_field") if draw_pred else []
            tasks = [
                name
                for name in (self.tasks or list(TASKS))
                if name in gt_tasks or name in pred_tasks
            ]
            img_shape = data_sample.metainfo.get("img_shape")
            if gt_tasks:
                rows.append(("GT", "gt_field", gt_tasks, img_shape))
            if pred_tasks:
                rows.append(("pred", "pred_field", pred_tasks, None))
        else:
            tasks = []
        if not rows:
            return image.copy(), ["input"], np.array([[2, 2]])

        labels, positions, panel_rows = [], [], []
        for row, (suffix, field, row_tasks, crop) in enumerate(rows):
            tiles = [image]
            labels.append("input")
            positions.append((2, row * height + 2))
            for col, task in enumerate(tasks, start=1):
                if task not in row_tasks:
                    tiles.append(np.zeros_like(image))
                    continue
                pixel_data = getattr(data_sample, getattr(TASKS[task], field))
                data = pixel_data.data.detach().cpu().numpy()
                tiles.append(self._tile(task, data, (height, width), crop))
                labels.append(f"{task} {suffix}")
                positions.append((col * width + 2, row * height + 2))
            panel_rows.append(np.concatenate(tiles, axis=1))
        return np.concatenate(panel_rows, axis=0), labels, np.array(positions)

    @master_only
    def add_datasample(
        self,
        name: str,
        image: np.ndarray,
        data_sample: Optional[MultiTaskDataSample] = None,
        draw_gt: bool = True,
        draw_pred: bool = True,
        show: bool = False,
        wait_time: float = 0,
        out_file: Optional[str] = None,
        step: int = 0,
    ) -> None:
        """Draw the panel of a sample; save, show or send it to the backends.

        Like every drawing method of mmengine's ``Visualizer`` this runs on
        the main process only (rank 0); other ranks return at once.

        Args:
            name (str): Image identifier (window name, backend image name).
            image (np.ndarray): RGB input image (H, W, 3) uint8.
            data_sample (MultiTaskDataSample, optional): Ground truth and/or
                predictions to draw.
            draw_gt (bool): Whether to draw the ground truth.
            draw_pred (bool): Whether to draw the predictions.
            show (bool): Whether to display the panel in a window.
            wait_time (float): Seconds to show the panel (0: wait for a key).
            out_file (str, optional): Where to write the panel; when None it
                goes to the vis backends.
            step (int): Global step for the backends.
        """
        panel, labels, positions = self.compose_panel(
            image, data_sample, draw_gt=draw_gt, draw_pred=draw_pred
        )
        self.set_image(panel)
        self.draw_texts(
            labels,
            positions,
            font_sizes=self.font_size,
            colors="white",
            bboxes=dict(facecolor="black", alpha=0.6, pad=0.5, edgecolor="none"),
        )
        drawn = self.get_image()
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)
