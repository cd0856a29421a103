from .checkpoint import (
    history_buffer_method,
    register_safe_checkpoint_globals,
    safe_checkpoint_globals,
)

__all__ = [
    "history_buffer_method",
    "register_safe_checkpoint_globals",
    "safe_checkpoint_globals",
]
