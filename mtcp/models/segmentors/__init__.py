from .data_preprocessor import MultiTaskDataPreProcessor
from .mtcp import MTCP
from .multitask_tta import MultiTaskTTAModel

__all__ = ["MTCP", "MultiTaskDataPreProcessor", "MultiTaskTTAModel"]
