import os

import pytest
import train  # tools/train.py, on sys.path through conftest
from mmengine.config import Config

from mtcp.engine import runner_setup


def build(argv):
    return train.build_train_config(train.parse_args(argv))


def test_defaults(toy_config):
    cfg = build([str(toy_config)])
    assert cfg.work_dir == os.path.join("./work_dirs", "toy_config")
    assert cfg.default_scope == "mmseg"
    assert cfg.resume is False
    assert cfg.launcher == "none"
    assert cfg.optim_wrapper.type == "OptimWrapper"
    # the base files are inherited: runtime hooks and the 100-epoch recipe
    assert cfg.default_hooks.visualization.type == "MultiTaskVisualizationHook"
    assert cfg.visualizer.type == "MultiTaskVisualizer"
    assert cfg.optim_wrapper.optimizer.lr == 5e-5
    assert "model_wrapper_cfg" not in cfg


def test_work_dir_resume_and_cfg_options(toy_config, tmp_path):
    # --resume resumes from the checkpoint last_checkpoint names
    (tmp_path / "wd").mkdir()
    (tmp_path / "wd" / "epoch_1.pth").write_bytes(b"")
    (tmp_path / "wd" / "last_checkpoint").write_text(str(tmp_path / "wd/epoch_1.pth"))
    cfg = build(
        [
            str(toy_config),
            "--work-dir",
            str(tmp_path / "wd"),
            "--resume",
            "--cfg-options",
            "train_cfg.max_epochs=7",
            "optim_wrapper.optimizer.lr=0.1",
            "default_hooks.logger.interval=3",
        ]
    )
    assert cfg.work_dir == str(tmp_path / "wd")
    assert cfg.resume is True
    assert cfg.load_from == str(tmp_path / "wd/epoch_1.pth")
    assert cfg.train_cfg.max_epochs == 7
    assert cfg.optim_wrapper.optimizer.lr == 0.1
    assert cfg.default_hooks.logger.interval == 3


def test_auto_scale_lr(toy_config):
    assert build([str(toy_config)]).auto_scale_lr == dict(
        enable=False, base_batch_size=2
    )
    assert build([str(toy_config), "--auto-scale-lr"]).auto_scale_lr.enable is True
    with pytest.raises(ValueError, match="auto_scale_lr = dict"):
        build([str(toy_config), "--auto-scale-lr", "--cfg-options", "auto_scale_lr="])


def test_work_dir_from_config_is_kept(toy_config):
    cfg = build([str(toy_config), "--cfg-options", "work_dir=/tmp/from_cfg"])
    assert cfg.work_dir == "/tmp/from_cfg"


def test_missing_config():
    with pytest.raises(FileNotFoundError, match="Config file not found: nope.py"):
        build(["nope.py"])


def test_foreign_default_scope(toy_config):
    with pytest.raises(ValueError, match="default_scope='mmseg'"):
        build([str(toy_config), "--cfg-options", "default_scope=mmdet"])


def test_scope_added_when_missing(tmp_path):
    path = tmp_path / "bare.py"
    path.write_text("model = dict(type='ToyMultiTaskModel')\n")
    assert runner_setup.load_config(str(path)).default_scope == "mmseg"


def test_amp_on_cpu_without_bf16_is_refused(toy_config, monkeypatch):
    monkeypatch.setattr(train, "get_device", lambda: "cpu")
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(RuntimeError, match="needs a CPU with AVX-512 BF16 or AMX"):
        build([str(toy_config), "--amp"])


def test_amp_on_cpu_is_bf16_autocast(toy_config, monkeypatch):
    monkeypatch.setattr(train, "get_device", lambda: "cpu")
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)
    cfg = build([str(toy_config), "--amp"])
    assert cfg.optim_wrapper.type == "CPUAutocastOptimWrapper"
    assert (
        cfg.optim_wrapper.dtype == "bfloat16" and "loss_scale" not in cfg.optim_wrapper
    )
    assert cfg.optim_wrapper.optimizer.type == "AdamW"


def test_amp_switches_the_optim_wrapper(toy_config, monkeypatch):
    monkeypatch.setattr(train, "get_device", lambda: "cuda")
    cfg = build([str(toy_config), "--amp"])
    assert cfg.optim_wrapper.type == "AmpOptimWrapper"
    assert cfg.optim_wrapper.loss_scale == "dynamic"
    assert cfg.optim_wrapper.optimizer.type == "AdamW"


def test_amp_needs_plain_optim_wrapper(toy_config, monkeypatch):
    monkeypatch.setattr(train, "get_device", lambda: "cuda")
    with pytest.raises(ValueError, match="only supported when optim_wrapper.type"):
        build(
            [
                str(toy_config),
                "--amp",
                "--cfg-options",
                "optim_wrapper.type=ApexOptimWrapper",
            ]
        )


def test_cpu_distributed_uses_gloo_and_no_device_ids(toy_config, monkeypatch):
    monkeypatch.setattr(runner_setup, "get_device", lambda: "cpu")
    cfg = build([str(toy_config), "--launcher", "pytorch"])
    assert cfg.launcher == "pytorch"
    assert cfg.env_cfg.dist_cfg.backend == "gloo"
    assert cfg.model_wrapper_cfg == dict(
        type="MMDistributedDataParallel",
        broadcast_buffers=False,
        find_unused_parameters=False,
        device_ids=None,
    )


def test_cpu_distributed_keeps_a_configured_wrapper(monkeypatch):
    monkeypatch.setattr(runner_setup, "get_device", lambda: "cpu")
    cfg = Config(dict(model_wrapper_cfg=dict(type="MMDistributedDataParallel", foo=1)))
    runner_setup.adapt_to_cpu_distributed(cfg, "pytorch")
    assert cfg.model_wrapper_cfg.foo == 1
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.env_cfg.dist_cfg.backend == "gloo"


def test_gpu_distributed_is_left_to_mmengine(toy_config, monkeypatch):
    monkeypatch.setattr(runner_setup, "get_device", lambda: "cuda")
    cfg = build([str(toy_config), "--launcher", "pytorch"])
    assert cfg.env_cfg.dist_cfg.backend == "nccl"
    assert "model_wrapper_cfg" not in cfg


def test_slurm_on_cpu_is_refused(toy_config, monkeypatch):
    monkeypatch.setattr(runner_setup, "get_device", lambda: "cpu")
    with pytest.raises(RuntimeError, match="--launcher slurm needs GPUs"):
        build([str(toy_config), "--launcher", "slurm"])


def test_local_rank_spellings(toy_config, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert train.parse_args([str(toy_config), "--local-rank", "3"]).local_rank == 3
    assert os.environ["LOCAL_RANK"] == "3"
    assert train.parse_args([str(toy_config), "--local_rank", "1"]).local_rank == 1
