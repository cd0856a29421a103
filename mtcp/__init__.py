"""MT-CP: multi-task dense prediction with coherence and prioritisation.

Importing :mod:`mtcp` registers every component into mmseg's registries
(``MODELS``, ``DATASETS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``,
``VISUALIZERS``), so a plain mmseg config can use them after
``custom_imports=dict(imports=['mtcp'], allow_failed_imports=False)``.
"""

from .utils import register_checkpoint_loaders
from .version import __version__

register_checkpoint_loaders()

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
