import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

# Shared test helpers (tool_loader) live beside this file.
TESTS_DIR = str(Path(__file__).resolve().parent)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Every test starts in mmseg's scope, whatever an earlier Runner left."""
    init_default_scope("mmseg")


@pytest.fixture(autouse=True)
def seed_everything():
    """Every test starts from the same seeds: its random inputs are reproducible."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
