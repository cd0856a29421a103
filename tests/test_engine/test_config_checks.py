"""Config mistakes named before anything is built."""

import os
from pathlib import Path

import pytest
from mmengine.config import Config

import mtcp  # noqa: F401  (registers the loops)
from mtcp.engine.config_checks import (
    check_cfg_options_keys,
    check_data_roots,
    check_loop_cfgs,
    check_work_dir,
)
from mtcp.engine.runner_setup import load_config

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "configs" / "mtcp_demo.py")


def test_unknown_top_level_cfg_option_names_the_closest_key():
    cfg = Config.fromfile(DEMO)
    with pytest.raises(ValueError) as error:
        check_cfg_options_keys(cfg, {"randomnes.seed": 123}, DEMO)
    assert str(error.value) == (
        f"--cfg-options randomnes.seed: {DEMO} has no top-level key 'randomnes' "
        "and nothing reads one (did you mean 'randomness'?)"
    )
    # keys of the config (its variables too) and keys the Runner reads
    check_cfg_options_keys(
        cfg, {"randomness.seed": 1, "max_epochs": 2, "experiment_name": "x"}, DEMO
    )
    # through load_config: refused before the merge
    with pytest.raises(ValueError, match="'randomnes'"):
        load_config(DEMO, {"randomnes.seed": 123})


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"train_cfg.max_iters": 20},
            "train_cfg.max_iters is not an argument of ResumableEpochBasedTrainLoop "
            "(did you mean 'max_epochs'?); it takes ['max_epochs', 'val_begin', "
            "'val_interval', 'dynamic_intervals']",
        ),
        (
            {"train_cfg.type": "IterBasedTrainLoop", "train_cfg.max_iters": 20},
            "train_cfg.max_epochs is not an argument of IterBasedTrainLoop",
        ),
        ({"val_cfg.fp61": True}, "val_cfg.fp61 is not an argument of ValLoop"),
        ({"test_cfg.type": "NoSuchLoop"}, "test_cfg.type='NoSuchLoop' is not a"),
    ],
)
def test_loop_arguments_are_checked(options, message):
    with pytest.raises(ValueError) as error:
        load_config(DEMO, options)
    assert str(error.value).startswith(f"{DEMO}: {message}")


def test_loops_without_type():
    cfg = Config(
        dict(
            train_cfg=dict(by_epoch=True, max_epochs=2),
            val_cfg=dict(),
            test_cfg=dict(fp16=True),
        )
    )
    check_loop_cfgs(cfg, "c.py")
    cfg.train_cfg = dict(by_epoch=False, max_epochs=2)
    with pytest.raises(ValueError, match="max_epochs is not an argument of IterBased"):
        check_loop_cfgs(cfg, "c.py")
    cfg.train_cfg = dict(max_epochs=2)
    with pytest.raises(ValueError, match="neither `type` nor `by_epoch`"):
        check_loop_cfgs(cfg, "c.py")


def test_work_dir_that_cannot_be_used(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [
        ("/proc/mtcp_work_dir", FileNotFoundError, "creating it failed"),
        (str(a_file), NotADirectoryError, "it is a file"),
        (str(a_file / "sub"), NotADirectoryError, "a part of the path is a file"),
    ]
    for work_dir, error_type, why in cases:
        with pytest.raises(error_type) as error:
            check_work_dir(work_dir, "--work-dir")
        assert str(error.value) == (
            f"--work-dir {work_dir}: cannot use it as the work directory ({why}"
            + ("" if why != "creating it failed" else ": No such file or directory")
            + "); expected a directory that can be created and written to (logs "
            "and checkpoints go there)"
        )
    check_work_dir(str(tmp_path / "new" / "dir"), "--work-dir")
    assert (tmp_path / "new" / "dir").is_dir()


def test_relative_data_root_names_the_directory_it_was_resolved_from(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "there").mkdir(parents=True)
    cfg = Config(
        dict(
            train_dataloader=dict(dataset=dict(type="X", data_root="data/there")),
            val_dataloader=dict(
                dataset=dict(
                    type="ConcatDataset",
                    datasets=[
                        dict(type="X", data_root="data/there"),
                        dict(type="X", data_root="data/NYUDv2"),
                    ],
                )
            ),
            test_dataloader=dict(dataset=dict(type="X", data_root="/no/such/root")),
        )
    )
    check_data_roots(cfg, ["train_dataloader"], "c.py")
    with pytest.raises(FileNotFoundError) as error:
        check_data_roots(cfg, ["train_dataloader", "val_dataloader"], "c.py")
    assert str(error.value) == (
        "c.py: val_dataloader.dataset.datasets[1].data_root='data/NYUDv2' is not "
        f"a directory: it is relative to the current directory {os.getcwd()}, and "
        f"{tmp_path / 'data' / 'NYUDv2'} does not exist; run from the directory "
        "it is relative to (the repository root for the shipped configs) or set "
        "an absolute path (expected the dataset's root directory, see docs/data.md)"
    )
    with pytest.raises(FileNotFoundError, match="/no/such/root does not exist"):
        check_data_roots(cfg, ["test_dataloader"], "c.py")
