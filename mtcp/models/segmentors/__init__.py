from .data_preprocessor import MultiTaskDataPreProcessor
from .mtcp import DEFAULT_LOSSES, MTCP

__all__ = ["DEFAULT_LOSSES", "MTCP", "MultiTaskDataPreProcessor"]
