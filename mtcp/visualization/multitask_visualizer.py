from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmengine.dist import master_only
from mmengine.visualization import Visualizer
from mmseg.registry import VISUALIZERS

from mtcp.structures import TASKS, MultiTaskDataSample, get_task
from mtcp.tasks import Legend, task_kind

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
    which must be present. A kind that overlays its maps
    (:attr:`~mtcp.tasks.BaseTaskKind.overlay`, the class maps) is blended
    over the input image with ``alpha``. Under each row, a strip holds
    every tile's legend (:meth:`~mtcp.tasks.BaseTaskKind.legend`): the
    classes present with their names (``dataset_meta``'s class names of
    the task), a colour bar with its range (depth in metres, probabilities).

    Args:
        name (str): Name of the instance. Defaults to 'visualizer'.
        image (np.ndarray, optional): Image to draw on. Defaults to None.
        vis_backends (list[dict], optional): Visual backend configs.
        save_dir (str, optional): Directory of the backends' files.
        tasks (Sequence[str], optional): Tasks to draw, in this order;
            defaults to every task present in the sample, in the order of
            :data:`mtcp.tasks.TASKS`.
        font_size (int): Font size of the tile labels and legends.
            Defaults to 10.
        dataset_meta (dict, optional): Dataset metainfo; the runner's loops
            also set it from the dataset.
        alpha (float): Opacity of overlaid maps over the input image, in
            [0, 1] (mmseg's ``opacity``); 1 shows the map alone. Defaults
            to 1.0.
        legend (bool): Draw the legend strips. Defaults to True.
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
        alpha: float = 1.0,
        legend: bool = True,
    ) -> None:
        super().__init__(
            name=name, image=image, vis_backends=vis_backends, save_dir=save_dir
        )
        if tasks is not None:
            tasks = [get_task(task).name for task in tasks]
        self.tasks = tasks
        self.font_size = font_size
        self.alpha = alpha
        self.legend = legend
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
        self, task: str, data: np.ndarray, image: np.ndarray
    ) -> Tuple[np.ndarray, Optional[Legend]]:
        """The coloured tile of a map, the size of ``image``, and its legend."""
        if not 0 <= self.alpha <= 1:
            raise ValueError(
                f"MultiTaskVisualizer: alpha must be in [0, 1], got {self.alpha}"
            )
        palette = self._palette(task)
        tile = colorize_task(task, data, palette=palette)
        height, width = image.shape[:2]
        if tile.shape[:2] != (height, width):
            tile = mmcv.imresize(tile, (width, height), interpolation="nearest")
        kind = task_kind(task)
        if kind.overlay and self.alpha < 1:
            blend = self.alpha * tile + (1 - self.alpha) * image.astype(np.float32)
            tile = blend.round().astype(np.uint8)
        if not self.legend:
            return tile, None
        key = TASKS[task].classes_key
        names = (self.dataset_meta or {}).get(key) if key else None
        return tile, kind.legend(data, palette=palette, class_names=names)

    def _line_height(self) -> int:
        return int(round(self.font_size * self.dpi / 72 * 1.4))

    def _text_width(self, text: str) -> int:
        """A generous estimate of the drawn width of ``text``, in pixels."""
        return int(np.ceil(len(text) * 0.7 * self.font_size * self.dpi / 72))

    def _key_height(self, key: Legend, width: int) -> int:
        """Pixels a legend needs under a tile ``width`` wide."""
        line = self._line_height()
        height = 0
        if key.swatches:
            cols = self._swatch_columns(key, width)
            height += -(-len(key.swatches) // cols) * line
        if key.ramp is not None:
            height += 2 * line
        return height + 8 if height else 0

    def _swatch_columns(self, key: Legend, width: int) -> int:
        widest = max(self._text_width(name) for name, _ in key.swatches)
        return max(1, width // (self._line_height() + widest + 12))

    def _draw_key(
        self, strip: np.ndarray, key: Legend, x0: int, width: int, texts: list
    ) -> None:
        """Draw a legend into ``strip`` from column ``x0``; its texts go to
        ``texts`` as (text, x, y, alignment), y within the strip."""
        line = self._line_height()
        y = 4
        if key.swatches:
            cols = self._swatch_columns(key, width)
            rows = -(-len(key.swatches) // cols)
            side = line - 4
            for i, (name, colour) in enumerate(key.swatches):
                # column by column, as a list is read
                x = x0 + 4 + (i // rows) * (width // cols)
                top = y + (i % rows) * line
                strip[top + 2 : top + 2 + side, x : x + side] = colour
                texts.append((name, x + side + 4, top, "left"))
            y += rows * line
        if key.ramp is not None:
            left, right = x0 + 4, x0 + width - 4
            index = np.linspace(0, len(key.ramp) - 1, right - left).round()
            strip[y + 2 : y + line - 2, left:right] = key.ramp[index.astype(int)]
            widest = max(self._text_width(text) for _, text in key.ticks)
            for pos, text in key.ticks:
                # middle ticks only where they cannot run into the ends
                if 0 < pos < 1 and right - left < 3.3 * widest:
                    continue
                align = "left" if pos == 0 else "right" if pos == 1 else "center"
                texts.append((text, left + pos * (right - left), y + line, align))

    def compose_panel(
        self,
        image: np.ndarray,
        data_sample: Optional[MultiTaskDataSample] = None,
        draw_gt: bool = True,
        draw_pred: bool = True,
    ) -> Tuple[np.ndarray, List[str], np.ndarray, List[str]]:
        """Lay out the tiles and legends of a sample without drawing the
        texts.

        Args:
            image (np.ndarray): RGB input image (H, W, 3) uint8.
            data_sample (MultiTaskDataSample, optional): Sample with
                ``gt_<field>`` and/or ``pred_<field>`` data.
            draw_gt (bool): Whether to add the ground-truth row.
            draw_pred (bool): Whether to add the prediction row.

        Returns:
            tuple: The panel, rows of (H, (1 + tasks) * W) tiles each with
            its legend strip below; the texts (tile labels, legend names and
            ticks), their (x, y) positions, an (N, 2) array, and horizontal
            alignments.
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
        if not rows:
            return image.copy(), ["input"], np.array([[2, 2]]), ["left"]

        texts, panel_rows, top = [], [], 0
        for suffix, field, row_tasks, crop in rows:
            tiles, keys = [image], []
            texts.append(("input", 2, top + 2, "left"))
            for col, task in enumerate(tasks, start=1):
                if task not in row_tasks:
                    tiles.append(np.zeros_like(image))
                    continue
                pixel_data = getattr(data_sample, getattr(TASKS[task], field))
                data = pixel_data.data.detach().cpu().numpy()
                if crop is not None:
                    # The data preprocessor pads ground truth in place to the
                    # batch shape; the valid part is the packed image's size.
                    data = data[..., : crop[0], : crop[1]]
                tile, key = self._tile(task, data, image)
                tiles.append(tile)
                texts.append((f"{task} {suffix}", col * width + 2, top + 2, "left"))
                if key is not None:
                    keys.append((col, key))
            strip_height = max(
                [self._key_height(key, width) for _, key in keys], default=0
            )
            strip = np.zeros((strip_height, len(tiles) * width, 3), np.uint8)
            key_texts = []
            for col, key in keys:
                self._draw_key(strip, key, col * width, width, key_texts)
            texts += [(t, x, top + height + y, a) for t, x, y, a in key_texts]
            panel_rows.append(np.concatenate([np.concatenate(tiles, axis=1), strip]))
            top += height + strip_height
        labels = [text for text, _, _, _ in texts]
        positions = np.array([(x, y) for _, x, y, _ in texts])
        return np.concatenate(panel_rows), labels, positions, [t[3] for t in texts]

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
        panel, labels, positions, alignments = self.compose_panel(
            image, data_sample, draw_gt=draw_gt, draw_pred=draw_pred
        )
        self.set_image(panel)
        self.draw_texts(
            labels,
            positions,
            font_sizes=self.font_size,
            colors="white",
            horizontal_alignments=alignments,
            bboxes=dict(facecolor="black", alpha=0.6, pad=0.5, edgecolor="none"),
        )
        drawn = self.get_image()
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)
