from .checkpoint import (
    history_buffer_method,
    register_checkpoint_loaders,
    safe_checkpoint_globals,
    safe_checkpoint_loading,
)
from .resume import resolve_resume
from .seeding import isolated_global_rngs, seed_global_rngs

__all__ = [
    "history_buffer_method",
    "register_checkpoint_loaders",
    "safe_checkpoint_globals",
    "safe_checkpoint_loading",
    "resolve_resume",
    "isolated_global_rngs",
    "seed_global_rngs",
]
