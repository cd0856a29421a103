from .dense_head import DensePredictionHead

__all__ = ["DensePredictionHead"]
