"""Import a script of ``tools/`` as a module, for the tests."""

import importlib.util
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parents[1] / "tools"


def load_tool(rel_path: str):
    """Import ``tools/<rel_path>`` (``.py`` optional) under a unique name.

    The name cannot clash with other modules (``tools/test.py`` would
    otherwise shadow the ``test`` package of the standard library).
    """
    if not rel_path.endswith(".py"):
        rel_path += ".py"
    path = TOOLS_DIR / rel_path
    name = "mtcp_tools_" + rel_path[:-3].replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise FileNotFoundError(f"no tool script at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
