from . import hooks

__all__ = ["hooks"]
