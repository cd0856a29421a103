import pytest
from tool_loader import load_tool

import mtcp  # noqa: F401  registers the components


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
