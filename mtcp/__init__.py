"""MT-CP: multi-task dense prediction with coherence and prioritisation.

Importing :mod:`mtcp` registers every component into mmseg's registries
(``MODELS``, ``DATASETS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``,
``VISUALIZERS``), so a plain mmseg config can use them after
``custom_imports=dict(imports=['mtcp'], allow_failed_imports=False)``.

It also sets ``MTCP_CONFIGS`` (unless set) to the folder of mtcp's configs,
for configs that inherit from them (:mod:`mtcp.utils.config_lookup`).
"""

import os

from .utils import CONFIGS_ENV, config_root, register_checkpoint_loaders
from .version import __version__

register_checkpoint_loaders()
if config_root() is not None:
    os.environ.setdefault(CONFIGS_ENV, config_root())

from . import (  # noqa: E402
    datasets,
    engine,
    evaluation,
    models,
    structures,
    tasks,
    visualization,  # noqa: E402
)

__all__ = [
    "__version__",
    "datasets",
    "engine",
    "evaluation",
    "models",
    "structures",
    "tasks",
    "visualization",
]
