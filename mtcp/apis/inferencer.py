"""``MultiTaskInferencer``: mmseg's ``MMSegInferencer`` for multi-task models.

Example::

    from mtcp.apis import MultiTaskInferencer
    inferencer = MultiTaskInferencer('mtcp_demo.py', 'work_dirs/mtcp_demo/epoch_5.pth')
    results = inferencer('photos/', batch_size=4, out_dir='outputs')
    results['predictions'][0]['depth']  # (H, W) metres of the first image
"""

import math
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.visualization import Visualizer
from rich.progress import track

from mtcp.structures import TASKS, MultiTaskDataSample, get_task
from mtcp.utils.config_lookup import find_config
from mtcp.visualization import MultiTaskVisualizer

from .inference import (
    PANEL_VISUALIZER,
    ImageType,
    InferencePipeline,
    build_inference_pipeline,
    check_output_names,
    draw_panel,
    find_images,
    init_model,
    output_name,
    predicted_tasks,
    save_predictions,
)

InputsType = Union[ImageType, Sequence[ImageType]]


class MultiTaskInferencer(BaseInferencer):
    """Predict every task of a multi-task model on images, in batches.

    mmengine's ``BaseInferencer`` as mmseg's ``MMSegInferencer``: a config
    and weights, inputs in, a dict of predictions (and panels) out; the
    outputs are those of :func:`~mtcp.apis.show_result`. Each batch is
    predicted, drawn and written before the next is read, under a progress
    bar.

    Args:
        model (str or Config): Config file or object, or the name of one of
            mtcp's configs (``'mtcp_demo.py'``, see
            :func:`~mtcp.utils.find_config`).
        weights (str, optional): Checkpoint, loaded strictly with its
            ``dataset_meta`` (:func:`~mtcp.apis.init_model`); None keeps
            random weights, with a warning.
        device (str, optional): Device; the available one by default.
        tta (bool): Test-time augmentation with the config's ``tta_model``
            and ``tta_pipeline``.
        show_progress (bool): Show a progress bar. Defaults to True.
    """

    preprocess_kwargs: set = {"skip_unreadable"}
    forward_kwargs: set = set()
    visualize_kwargs: set = {"show", "wait_time", "opacity", "return_vis"}
    postprocess_kwargs: set = set()

    def __init__(
        self,
        model: Union[str, dict],
        weights: Optional[str] = None,
        device: Optional[str] = None,
        tta: bool = False,
        show_progress: bool = True,
    ) -> None:
        self.tta = tta
        # names the outputs of array inputs, over calls (as mmseg's)
        self.num_arrays = 0
        if isinstance(model, str):
            model = find_config(model)
        super().__init__(model, weights, device, "mmseg", show_progress)

    def _init_model(self, cfg, weights, device) -> torch.nn.Module:
        return init_model(cfg, weights, device, tta=self.tta)

    def _init_pipeline(self, cfg) -> InferencePipeline:
        return build_inference_pipeline(self.model.cfg, self.tta)

    def _init_collate(self, cfg):
        return pseudo_collate

    def _init_visualizer(self, cfg) -> Visualizer:
        return MultiTaskVisualizer.get_instance(PANEL_VISUALIZER)

    def __call__(
        self,
        inputs: InputsType,
        return_datasamples: bool = False,
        batch_size: int = 1,
        out_dir: str = "",
        tasks: Optional[Sequence[str]] = None,
        **kwargs,
    ) -> dict:
        """Predict ``inputs``.

        Args:
            inputs (str, ndarray or list): An image file, a folder (its
                images), a glob pattern, an RGB array (H, W, 3) uint8, or a
                list of files and arrays.
            return_datasamples (bool): Return the
                :class:`~mtcp.structures.MultiTaskDataSample` of each image
                instead of arrays. Defaults to False.
            batch_size (int): Images per forward pass. Defaults to 1.
            out_dir (str): Write ``out_dir/<task>/<name>.<ext>`` and the
                panels ``out_dir/panels/<name>.png``; ``<name>`` is a file's
                stem or ``array_<n>``. Defaults to '' (nothing written).
            tasks (list[str], optional): Tasks to return, write and draw;
                every task the model predicts by default.
            **kwargs: ``skip_unreadable`` (bool, default False: a file that
                cannot be read is listed in ``failed`` instead of raising),
                ``opacity`` (float, default 0.8: class maps over the image
                in the panels), ``show`` and ``wait_time`` (display each
                panel), ``return_vis`` (return the panels).

        Returns:
            dict: ``predictions``, per image read, ``task -> array`` ((H, W),
            or (C, H, W) for normals; class indices, metres,
            probabilities) or with ``return_datasamples`` its data sample;
            ``visualization``, the RGB panels with ``return_vis``, else
            empty; ``failed``, the messages of the files skipped. Lists in
            the order of the inputs.
        """
        preprocess_kwargs, _, visualize_kwargs, _ = self._dispatch_kwargs(**kwargs)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if tasks is not None:
            tasks = [get_task(task).name for task in tasks]
        items = self._inputs_to_list(inputs)
        names = [self._output_name(item) for item in items]
        panel_dir = osp.join(out_dir, "panels") if out_dir else ""
        results = dict(predictions=[], visualization=[], failed=[])
        batches = self.preprocess(items, batch_size, **preprocess_kwargs)
        if self.show_progress:
            total = math.ceil(len(items) / batch_size)
            batches = track(batches, description="Inference", total=total)
        for indices, images, data, failed in batches:
            results["failed"] += failed
            if not indices:
                continue
            preds = self.forward(data)
            batch_names = [names[i] for i in indices]
            panels = self.visualize(
                images, preds, batch_names, tasks, panel_dir, **visualize_kwargs
            )
            batch = self.postprocess(
                preds, panels, return_datasamples, batch_names, tasks, out_dir
            )
            for key in ("predictions", "visualization"):
                results[key] += batch[key]
        return results

    def _inputs_to_list(self, inputs: InputsType) -> list:
        """A file, folder or glob as its image files (:func:`find_images`);
        an array as a list of one; a list as is, its files checked to write
        distinct outputs."""
        if isinstance(inputs, str):
            return find_images(inputs)
        if isinstance(inputs, np.ndarray):
            return [inputs]
        inputs = list(inputs)
        check_output_names([item for item in inputs if isinstance(item, str)])
        return inputs

    def _output_name(self, item: ImageType) -> str:
        if isinstance(item, str):
            return output_name(item)
        self.num_arrays += 1
        return f"array_{self.num_arrays - 1:05d}"

    def preprocess(
        self, inputs: list, batch_size: int = 1, skip_unreadable: bool = False
    ) -> Iterator[Tuple[List[int], List[np.ndarray], dict, List[str]]]:
        """Per batch of ``batch_size`` inputs: the indices of those read,
        their RGB images, their collated data for ``test_step`` and the
        messages of the files that could not be read (with
        ``skip_unreadable``; else the first one raises)."""
        for start in range(0, len(inputs), batch_size):
            indices, images, data, failed = [], [], [], []
            for index in range(start, min(start + batch_size, len(inputs))):
                try:
                    results = self.pipeline.load(inputs[index])
                except (OSError, ValueError) as error:
                    if not (skip_unreadable and isinstance(inputs[index], str)):
                        raise
                    failed.append(str(error))
                    continue
                indices.append(index)
                images.append(np.ascontiguousarray(results["img"][..., ::-1]))
                data.append(self.pipeline.transform(results))
            yield indices, images, self.collate_fn(data) if data else {}, failed

    def visualize(
        self,
        inputs: List[np.ndarray],
        preds: List[MultiTaskDataSample],
        names: Sequence[str],
        tasks: Optional[Sequence[str]] = None,
        panel_dir: str = "",
        show: bool = False,
        wait_time: float = 0,
        opacity: float = 0.8,
        return_vis: bool = False,
    ) -> List[np.ndarray]:
        """Draw the panels of a batch (:func:`~mtcp.apis.draw_panel`) into
        ``panel_dir`` and/or show them; returns them with ``return_vis``."""
        if not (show or panel_dir or return_vis):
            return []
        panels = []
        for image, sample, name in zip(inputs, preds, names):
            out_file = osp.join(panel_dir, f"{name}.png") if panel_dir else None
            chosen = predicted_tasks(sample, tasks, name)
            panel = draw_panel(
                self.model, image, sample, chosen, name, opacity, out_file, show,
                wait_time,
            )  # fmt: skip
            panels.append(panel)
        return panels if return_vis else []

    def postprocess(
        self,
        preds: List[MultiTaskDataSample],
        visualization: List[np.ndarray],
        return_datasample: bool = False,
        names: Sequence[str] = (),
        tasks: Optional[Sequence[str]] = None,
        out_dir: str = "",
    ) -> dict:
        """Write a batch's predictions under ``out_dir``
        (:func:`~mtcp.apis.save_predictions`); return them as arrays or
        data samples, with the panels."""
        predictions = []
        for sample, name in zip(preds, names):
            chosen = predicted_tasks(sample, tasks, name)
            if out_dir:
                save_predictions(self.model, sample, chosen, out_dir, name)
            if return_datasample:
                predictions.append(sample)
                continue
            arrays = {}
            for task in chosen:
                data = getattr(sample, TASKS[task].pred_field).data.cpu().numpy()
                arrays[task] = data[0] if data.shape[0] == 1 else data
            predictions.append(arrays)
        return dict(predictions=predictions, visualization=visualization)
