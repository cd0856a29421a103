from .base_multitask_dataset import BaseMultiTaskDataset
from .cityscapes_mt import CityscapesMTDataset
from .multitask_folder import MultiTaskFolderDataset
from .nyudv2_mt import NYUDv2MTDataset
from .pascal_context_mt import PascalContextMTDataset
from .seeded_sampling import SampleKey, SeededAugmentationMixin, SeededSampler
from .synthetic_scenes import SyntheticScenesDataset
from .transforms import (
    KeepLabelsAtOriginal,
    LoadMultiTaskAnnotations,
    MultiTaskPad,
    MultiTaskRandomCrop,
    MultiTaskRandomFlip,
    MultiTaskRandomResize,
    MultiTaskResize,
    PackMultiTaskInputs,
)

__all__ = [
    "BaseMultiTaskDataset",
    "CityscapesMTDataset",
    "MultiTaskFolderDataset",
    "NYUDv2MTDataset",
    "PascalContextMTDataset",
    "SyntheticScenesDataset",
    "SampleKey",
    "SeededAugmentationMixin",
    "SeededSampler",
    "KeepLabelsAtOriginal",
    "LoadMultiTaskAnnotations",
    "MultiTaskResize",
    "MultiTaskRandomResize",
    "MultiTaskRandomCrop",
    "MultiTaskRandomFlip",
    "MultiTaskPad",
    "PackMultiTaskInputs",
]
