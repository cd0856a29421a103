from .checkpoint import (
    history_buffer_method,
    register_checkpoint_loaders,
    safe_checkpoint_globals,
    safe_checkpoint_loading,
)
from .config_lookup import CONFIGS_ENV, config_root, find_config
from .resume import resolve_resume
from .seeding import isolated_global_rngs, seed_global_rngs

__all__ = [
    "CONFIGS_ENV",
    "config_root",
    "find_config",
    "history_buffer_method",
    "register_checkpoint_loaders",
    "safe_checkpoint_globals",
    "safe_checkpoint_loading",
    "resolve_resume",
    "isolated_global_rngs",
    "seed_global_rngs",
]
