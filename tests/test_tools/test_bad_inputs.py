"""Bad input to the tools fails before any training or testing step, with a
message naming what is wrong: malformed --cfg-options, a misspelt hook
argument, task sets that disagree, a checkpoint that does not fit, a file
that is not a checkpoint, an unreadable image among good ones."""

from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
import train
from tool_loader import load_tool

from mtcp.utils.strict_loading import CheckpointError

test_tool = load_tool("test")
infer = load_tool("infer")
DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "mtcp_demo.py")


@pytest.mark.parametrize("item", ["max_epochs", "=3", "train_cfg.max_epochs:3"])
def test_malformed_cfg_options_are_named(toy_config, item, capsys):
    for parse, extra in ((train.parse_args, []), (test_tool.parse_args, ["c.pth"])):
        with pytest.raises(SystemExit) as exit_info:
            parse([str(toy_config), *extra, "--cfg-options", "a=1", item])
        assert exit_info.value.code == 2
        assert f"--cfg-options: {item!r} is not KEY=VALUE" in capsys.readouterr().err


def test_misspelt_checkpoint_hook_argument_fails_before_training(toy_config, tmp_path):
    work_dir = tmp_path / "wd"
    with pytest.raises(TypeError, match="has no argument 'save_bset'"):
        train.main(
            [str(toy_config), "--work-dir", str(work_dir), "--cfg-options"]
            + ["default_hooks.checkpoint.save_bset=loss"]
        )
    assert not list(work_dir.glob("*.pth"))


def _demo(tmp_path, *options):
    return [DEMO, "--work-dir", str(tmp_path / "wd"), "--cfg-options", *options]


def test_task_sets_that_disagree_fail_before_training(tmp_path):
    # model without normals, training data with them
    with pytest.raises(ValueError, match=r"model's tasks \['semseg', 'depth'\]"):
        train.main(_demo(tmp_path, "model.tasks=[semseg,depth]"))
    # model and training data agree; validation scores normals
    with pytest.raises(ValueError, match=r"scores \['normals'\], which the model"):
        train.main(
            _demo(
                tmp_path,
                "model.tasks=[semseg,depth]",
                "train_dataloader.dataset.tasks=[semseg,depth]",
            )
        )
    # validation data without the depth labels its metric scores
    with pytest.raises(ValueError, match=r"has no labels for them"):
        train.main(_demo(tmp_path, "val_dataloader.dataset.tasks=[semseg,normals]"))
    assert not list((tmp_path / "wd").glob("*.pth"))


def test_test_refuses_a_checkpoint_of_another_model(toy_config, tmp_path):
    # the toy model is one 1x1 conv from 3 channels to 1
    path = tmp_path / "other.pth"
    torch.save(dict(state_dict={"conv.weight": torch.ones(2, 3, 1, 1)}), str(path))
    argv = [str(toy_config), str(path), "--work-dir", str(tmp_path / "wd")]
    with pytest.raises(CheckpointError) as error:
        test_tool.main(argv)
    assert "conv.weight (2, 3, 1, 1) (model: (1, 3, 1, 1))" in str(error.value)
    assert "missing in the checkpoint: conv.bias" in str(error.value)
    path.write_bytes(np.random.default_rng(0).bytes(512))
    with pytest.raises(CheckpointError, match="is not a PyTorch checkpoint") as error:
        test_tool.main(argv)
    assert "weights_only" not in str(error.value)


def test_infer_goes_on_past_an_unreadable_image(toy_config, tmp_path, capsys):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    init_default_scope("mmseg")
    model = MODELS.build(Config.fromfile(str(toy_config)).model)
    ckpt = str(tmp_path / "toy.pth")
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "c"):
        mmcv.imwrite(np.zeros((24, 32, 3), np.uint8), str(images / f"{name}.png"))
    (images / "b.png").write_bytes(b"")
    out = tmp_path / "out"
    argv = [str(toy_config), ckpt, str(images), "--out-dir", str(out)]
    assert infer.main(argv + ["--batch-size", "2"]) == 1
    message = capsys.readouterr().err
    assert message.startswith("1 of 3 images failed")
    assert f"Cannot read image {images / 'b.png'}: the file is empty" in message
    # the images after the bad one were processed
    assert sorted(p.name for p in (out / "depth").iterdir()) == ["a.npy", "c.npy"]


def test_config_mistakes_are_named_before_anything_is_built(toy_config, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [
        (
            ["--cfg-options", "randomnes.seed=123"],
            ValueError,
            "has no top-level key 'randomnes' and nothing reads one (did you mean "
            "'randomness'?)",
        ),
        (
            ["--cfg-options", "train_cfg.max_iters=20"],
            ValueError,
            "train_cfg.max_iters is not an argument of ResumableEpochBasedTrainLoop",
        ),
        (["--work-dir", "/proc/mtcp"], FileNotFoundError, "--work-dir /proc/mtcp: "),
        (["--work-dir", str(a_file)], NotADirectoryError, "(it is a file)"),
    ]
    for argv, error_type, message in cases:
        with pytest.raises(error_type) as error:
            train.build_train_config(train.parse_args([str(toy_config), *argv]))
        assert message in str(error.value)


class _Hostile:
    def __reduce__(self):
        return (print, ("this should not run",))


@pytest.mark.parametrize("content", ["truncated", "hostile"])
def test_resume_onto_an_unreadable_checkpoint_names_it(toy_config, tmp_path, content):
    work_dir = tmp_path / "wd"
    work_dir.mkdir()
    checkpoint = work_dir / "epoch_1.pth"
    if content == "truncated":
        torch.save({"state_dict": {"w": torch.zeros(100)}}, checkpoint)
        checkpoint.write_bytes(checkpoint.read_bytes()[:200])
        expected = f"{checkpoint} is not a PyTorch checkpoint, or is truncated"
    else:
        torch.save({"state_dict": {}, "meta": _Hostile()}, checkpoint)
        expected = (
            f"{checkpoint}: the checkpoint holds an object of type print, which is "
            "not loaded for safety"
        )
    (work_dir / "last_checkpoint").write_text(str(checkpoint))
    with pytest.raises(CheckpointError) as error:
        train.main([str(toy_config), "--work-dir", str(work_dir), "--resume"])
    assert str(error.value).startswith(expected)
    assert "weights_only" not in str(error.value)
