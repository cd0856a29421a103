"""Test-time augmentation of multi-task models (mmseg's ``tta_model``)."""

from typing import List, Sequence

from mmengine.model import BaseTTAModel
from mmengine.structures import PixelData
from mmseg.registry import MODELS

from mtcp.structures import TASKS, MultiTaskDataSample
from mtcp.tasks import task_kind


@MODELS.register_module()
class MultiTaskTTAModel(BaseTTAModel):
    """Merge the predictions of each image's test-time augmented views.

    Used like mmseg's ``SegTTAModel``: ``tta_pipeline`` makes several views of
    every image (``TestTimeAug``, e.g. plain and horizontally flipped), the
    wrapped ``module`` predicts each view as in a plain test step, mapping it
    back to the original image (its heads undo the recorded resize and
    flip), and :meth:`merge_preds` merges the views per task with the
    ``merge_views`` of the task's kind: class maps
    average the class probabilities and take the argmax, depth averages,
    normals average and renormalise, binary maps average the probabilities.

    The merged sample is the first view's sample (its meta information and
    labels; the tta pipelines load the labels after the flip and resize, so
    they are the original ones) with the merged predictions, shaped as a
    plain test step's output.

    Args:
        module (dict or nn.Module): The tested model.
        data_preprocessor (dict or nn.Module, optional): Overrides the
            module's data preprocessor.
    """

    def merge_preds(
        self, data_samples_list: Sequence[Sequence[MultiTaskDataSample]]
    ) -> List[MultiTaskDataSample]:
        """Merge the views of every image.

        Args:
            data_samples_list (list[list[MultiTaskDataSample]]): For every
                image of the batch, the predictions of its views.

        Returns:
            list[MultiTaskDataSample]: One merged prediction per image.
        """
        merged = []
        for views in data_samples_list:
            sample = views[0]
            shapes = {tuple(view.metainfo.get("ori_shape", ())) for view in views}
            if len(shapes) != 1:
                raise ValueError(
                    "MultiTaskTTAModel: the views of "
                    f"{sample.metainfo.get('img_path')} have different "
                    f"ori_shape {sorted(shapes)}; they must be views of one image"
                )
            for task, info in TASKS.items():
                if info.pred_field not in sample:
                    continue
                merged_fields = task_kind(task).merge_views(views, info)
                for field, data in merged_fields.items():
                    setattr(sample, field, PixelData(data=data))
            merged.append(sample)
        return merged
