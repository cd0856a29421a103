"""Where mtcp's configs are, and a config by its name.

A checkout keeps them in ``configs/`` beside the ``mtcp`` package (also
after an editable install); an installed wheel in ``mtcp/.mim/configs``,
where ``setup.py`` copies them as OpenMMLab packages do (mim looks there
too). Importing :mod:`mtcp` sets the environment variable
:data:`CONFIGS_ENV` to that folder unless it is set already, so that a
user's config anywhere can inherit from an mtcp config with mmengine's
environment-variable substitution::

    _base_ = ['{{$MTCP_CONFIGS:}}/mtcp_demo.py']

(docs/tools.md, "Your own config").
"""

import glob
import os.path as osp
from typing import Optional

CONFIGS_ENV = "MTCP_CONFIGS"


def config_root() -> Optional[str]:
    """The folder of mtcp's configs: the checkout's ``configs/``, else the
    installed ``mtcp/.mim/configs``; None when neither exists."""
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    checkout = osp.dirname(package)
    # A checkout first: a build leaves a copy in mtcp/.mim that edits to
    # configs/ would not reach.
    if osp.isfile(osp.join(checkout, "setup.py")) and osp.isdir(
        osp.join(checkout, "configs")
    ):
        return osp.join(checkout, "configs")
    installed = osp.join(package, ".mim", "configs")
    return installed if osp.isdir(installed) else None


def find_config(name: str) -> str:
    """Resolve a config file path or the name of one of mtcp's configs.

    Args:
        name (str): An existing file; else a path under :func:`config_root`
            (``mtcp_demo.py``, ``examples/mtcp_own_data.py``; ``.py`` may be
            left out); else a file name found once under it (as ``mim train``
            finds a config).

    Returns:
        str: The path of the config file.

    Raises:
        FileNotFoundError: ``name`` is neither a file nor a config of mtcp.
        ValueError: ``name`` is the file name of several configs.
    """
    if osp.isfile(name):
        return name
    root = config_root()
    if root is None:
        raise FileNotFoundError(
            f"Config file not found: {name} (and this mtcp has no configs "
            "folder: neither a checkout's configs/ nor mtcp/.mim/configs)"
        )
    filename = name if name.endswith(".py") else name + ".py"
    path = osp.join(root, filename)
    if osp.isfile(path):
        return path
    pattern = osp.join(root, "**", osp.basename(filename))
    matches = sorted(glob.glob(pattern, recursive=True))
    if len(matches) > 1:
        raise ValueError(
            f"{name!r} names {len(matches)} configs of mtcp: {matches}; give "
            f"its path relative to {root}"
        )
    if not matches:
        raise FileNotFoundError(
            f"Config file not found: {name} (neither a file nor a config of "
            f"mtcp under {root})"
        )
    return matches[0]
