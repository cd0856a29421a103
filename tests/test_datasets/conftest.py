import importlib.util
import os.path as osp

import pytest
from mmengine.registry import init_default_scope

import mtcp  # noqa: F401  registers the components

TOOLS = osp.join(osp.dirname(__file__), "..", "..", "tools")


def load_tool(rel_path: str):
    path = osp.join(TOOLS, rel_path)
    spec = importlib.util.spec_from_file_location(osp.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope("mmseg")


@pytest.fixture(scope="session")
def fake_tool():
    return load_tool("dataset_converters/make_fake_dataset.py")


@pytest.fixture(scope="session")
def fake_roots(tmp_path_factory, fake_tool):
    """One small dataset per layout: 3 train and 2 val items of 48x64."""
    roots = {}
    for layout in fake_tool.LAYOUTS:
        root = str(tmp_path_factory.mktemp(layout.replace("-", "_")))
        fake_tool.make_fake_dataset(root, layout, num_train=3, num_val=2, seed=0)
        roots[layout] = root
    return roots
