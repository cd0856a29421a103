from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmengine.hooks import LoggerHook
from tool_loader import load_tool

from mtcp.engine import runner_setup

test_tool = load_tool("test")


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"")
    return str(path)


def build(argv):
    return test_tool.build_test_config(test_tool.parse_args(argv))


def test_defaults(toy_config, checkpoint):
    cfg = build([str(toy_config), checkpoint])
    assert cfg.load_from == checkpoint
    assert cfg.work_dir.endswith("toy_config")
    assert cfg.default_hooks.visualization.get("draw", False) is False
    assert "output_dir" not in cfg.test_evaluator
    assert cfg.model.get("test_cfg") is None


def test_missing_checkpoint(toy_config, tmp_path):
    missing = str(tmp_path / "missing.pth")
    with pytest.raises(FileNotFoundError, match="Checkpoint file not found: .*"):
        build([str(toy_config), missing])


def test_missing_config(checkpoint):
    with pytest.raises(FileNotFoundError, match="Config file not found"):
        build(["missing_config.py", checkpoint])


def test_tta_wraps_the_model_and_tests_the_tta_pipeline(toy_config, checkpoint):
    plain = build([str(toy_config), checkpoint])
    cfg = build([str(toy_config), checkpoint, "--tta"])
    # mmseg's test.py: the tta_pipeline feeds the tta_model wrapping the model
    assert cfg.model.type == "MultiTaskTTAModel"
    assert cfg.model.module == plain.model
    assert cfg.test_dataloader.dataset.pipeline == plain.tta_pipeline
    assert cfg.test_dataloader.dataset.pipeline[0].type == "TestTimeAug"


@pytest.mark.parametrize("key", ["tta_model", "tta_pipeline"])
def test_tta_without_tta_config_names_the_config(toy_config, checkpoint, key):
    cfg = Config.fromfile(str(toy_config))
    cfg.pop(key)
    stripped = toy_config.parent / "no_tta.py"
    cfg.dump(str(stripped))
    with pytest.raises(
        ValueError, match=f"needs tta_model and tta_pipeline .*no_tta.py has no {key}"
    ):
        build([str(stripped), checkpoint, "--tta"])


def test_out_keeps_metrics_and_saves_predictions(toy_config, checkpoint, tmp_path):
    cfg = build([str(toy_config), checkpoint, "--out", str(tmp_path / "preds")])
    assert cfg.test_evaluator.output_dir == str(tmp_path / "preds")
    assert cfg.test_evaluator.get("format_only", False) is False


def test_out_with_metric_list():
    cfg = Config(
        dict(test_evaluator=[dict(type="MultiTaskMetric"), dict(type="Other")])
    )
    test_tool.set_prediction_dir(cfg, "preds")
    assert cfg.test_evaluator[0].output_dir == "preds"
    assert "output_dir" not in cfg.test_evaluator[1]


def test_out_without_multitask_metric(toy_config, checkpoint):
    with pytest.raises(ValueError, match="--out needs a MultiTaskMetric"):
        build(
            [
                str(toy_config),
                checkpoint,
                "--out",
                "preds",
                "--cfg-options",
                "test_evaluator.type=IoUMetric",
            ]
        )


def test_show_dir_and_show_turn_on_the_hook(toy_config, checkpoint):
    cfg = build(
        [str(toy_config), checkpoint, "--show-dir", "panels", "--show"]
        + ["--wait-time", "0.5"]
    )
    hook = cfg.default_hooks.visualization
    assert hook.draw is True and hook.out_dir == "panels"
    assert hook.show is True and hook.wait_time == 0.5


def test_show_dir_needs_the_hook(toy_config, checkpoint):
    with pytest.raises(RuntimeError, match="visualization hook"):
        build(
            [
                str(toy_config),
                checkpoint,
                "--show-dir",
                "panels",
                "--cfg-options",
                "default_hooks.visualization=None",
            ]
        )


def test_cpu_distributed(toy_config, checkpoint, monkeypatch):
    monkeypatch.setattr(runner_setup, "get_device", lambda: "cpu")
    cfg = build([str(toy_config), checkpoint, "--launcher", "pytorch"])
    assert cfg.env_cfg.dist_cfg.backend == "gloo"
    assert cfg.model_wrapper_cfg.device_ids is None


@pytest.mark.parametrize(
    "batches, configured, expected", [(15, 20, 2), (654, 50, 50), (3, 50, 1)]
)
def test_progress_lines_during_testing(batches, configured, expected):
    """About 10 progress lines (mmengine's test lines, with the ETA), never
    fewer lines than the configured interval gives."""
    logger = LoggerHook(interval=configured)
    runner = SimpleNamespace(hooks=[logger], test_dataloader=range(batches))
    test_tool.show_progress(runner)
    assert logger.interval == expected
