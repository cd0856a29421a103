from .data_preprocessor import MultiTaskDataPreProcessor
from .mtcp import MTCP
from .mtcp_utils import DEFAULT_LOSSES

__all__ = ["DEFAULT_LOSSES", "MTCP", "MultiTaskDataPreProcessor"]
