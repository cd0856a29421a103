"""The model index lists every config once; configs are found by name; a
user's config inherits from mtcp's (MTCP_CONFIGS) and from mmseg's
(``mmseg::``)."""

import os
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.fileio import load

from mtcp.utils import CONFIGS_ENV, config_lookup, config_root, find_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    str(p.relative_to(REPO))
    for p in (REPO / "configs").rglob("*.py")
    if "_base_" not in p.parts
)


def test_model_index_lists_every_config_once_without_weights():
    index = load(str(REPO / "model-index.yml"))
    listed = []
    for metafile in index["Import"]:
        meta = load(str(REPO / metafile))
        (collection,) = meta["Collections"]
        for model in meta["Models"]:
            assert model["In Collection"] == collection["Name"]
            assert model["Name"] == Path(model["Config"]).stem
            # the metafile sits beside its configs, as in mmseg
            assert Path(model["Config"]).parent == Path(metafile).parent
            assert model["Weights"] == "none published yet"
            assert model["Metadata"]["Tasks"], model["Name"]
            listed.append(model["Config"])
    assert sorted(listed) == CONFIGS


def test_find_config_by_path_name_and_file_name(tmp_path, monkeypatch):
    root = config_root()
    assert root == str(REPO / "configs")
    demo = str(REPO / "configs" / "mtcp_demo.py")
    assert find_config(demo) == demo
    monkeypatch.chdir(tmp_path)
    assert find_config("mtcp_demo.py") == demo
    assert find_config("mtcp_demo") == demo
    own = str(REPO / "configs" / "examples" / "mtcp_own_data.py")
    assert find_config("examples/mtcp_own_data.py") == own
    assert find_config("mtcp_own_data.py") == own
    # a file of the user's wins over mtcp's config of the same name
    (tmp_path / "mtcp_demo.py").write_text("x = 1\n")
    assert find_config("mtcp_demo.py") == "mtcp_demo.py"
    with pytest.raises(FileNotFoundError, match="Config file not found: nope.py"):
        find_config("nope.py")
    # a file name under two folders must be given with its folder
    for folder in ("a", "b"):
        (tmp_path / "root" / folder).mkdir(parents=True)
        (tmp_path / "root" / folder / "twin.py").write_text("x = 1\n")
    monkeypatch.setattr(config_lookup, "config_root", lambda: str(tmp_path / "root"))
    with pytest.raises(ValueError, match="names 2 configs"):
        find_config("twin.py")
    assert find_config("b/twin") == str(tmp_path / "root" / "b" / "twin.py")


def test_a_user_config_inherits_from_mtcp_configs(tmp_path):
    assert os.environ[CONFIGS_ENV] == config_root()
    user = tmp_path / "my_nyud.py"
    user.write_text(
        '_base_ = ["{{$MTCP_CONFIGS:}}/mtcp_nyud.py"]\n'
        "train_dataloader = dict(batch_size=1)\n"
    )
    cfg = Config.fromfile(str(user))
    assert cfg.train_dataloader.batch_size == 1
    assert cfg.model.type == "MTCP" and cfg.model.tasks == [
        "semseg",
        "depth",
        "normals",
    ]
    assert cfg.crop_size == (448, 576)


def test_a_user_config_inherits_from_mmseg_configs(tmp_path):
    pytest.importorskip(
        "pkg_resources",
        reason="mmengine resolves `mmseg::` with pkg_resources, which "
        "tools/install.sh installs (requirements/runtime.txt pins setuptools)",
    )
    user = tmp_path / "my_fcn.py"
    user.write_text(
        '_base_ = ["mmseg::_base_/models/fcn_r50-d8.py"]\n'
        "model = dict(decode_head=dict(num_classes=5))\n"
    )
    cfg = Config.fromfile(str(user))
    assert cfg.model.type == "EncoderDecoder"
    assert cfg.model.decode_head.num_classes == 5
    assert cfg.model.backbone.type == "ResNetV1c"
    assert cfg.model.decode_head.type == "FCNHead"
