from .data_preprocessor import MultiTaskDataPreProcessor
from .mtcp import MTCP
from .mtcp_utils import DEFAULT_LOSSES
from .multitask_tta import MultiTaskTTAModel

__all__ = ["DEFAULT_LOSSES", "MTCP", "MultiTaskDataPreProcessor", "MultiTaskTTAModel"]
