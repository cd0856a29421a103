"""The demo model's files, shared by the API tests."""

from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture
def demo_files(tmp_path, monkeypatch):
    """The README's files in a scratch folder: the configs, a checkpoint of
    the demo model (untrained weights) and a 96x128 image."""
    torch.manual_seed(0)
    (tmp_path / "configs").symlink_to(CONFIGS)
    cfg = Config.fromfile(str(CONFIGS / "mtcp_demo.py"))
    init_default_scope("mmseg")
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / "work_dirs" / "mtcp_demo" / "epoch_5.pth"
    ckpt.parent.mkdir(parents=True)
    torch.save(dict(state_dict=model.state_dict(), meta={}), str(ckpt))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    mmcv.imwrite(image, str(tmp_path / "room.png"))
    monkeypatch.chdir(tmp_path)
    return tmp_path, image[..., ::-1].copy()
