from .checkpoint import checkpoint

__all__ = ["checkpoint"]
