"""tools/analysis_tools/confusion_matrix.py: hand-computed counts, and the toy
model on its test set."""

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from tool_loader import load_tool

cm = load_tool("analysis_tools/confusion_matrix")


def test_two_classes_by_hand():
    pred = np.array([[0, 1], [1, 1], [0, 0]])
    gt = np.array([[0, 0], [1, 255], [1, 1]])
    # label 0: predicted 0 once, 1 once; label 1: predicted 1 once, 0 twice;
    # the unlabelled pixel does not count
    counts = cm.confusion_matrix(pred, gt, 2)
    assert counts.tolist() == [[1, 1], [2, 1]]
    percent = cm.row_percent(counts)
    np.testing.assert_allclose(percent, [[50, 50], [200 / 3, 100 / 3]])
    # a class never labelled: a row of NaN, not a division error
    assert np.isnan(cm.row_percent(np.array([[0, 0], [1, 3]]))[0]).all()
    with pytest.raises(ValueError, match=r"predictions outside 0..1: \[0 2\]"):
        cm.confusion_matrix(np.array([2, 0]), np.array([1, 0]), 2)


def test_toy_model_on_its_test_set(toy_config, tmp_path, capsys):
    init_default_scope("mmseg")
    model = MODELS.build(Config.fromfile(str(toy_config)).model)
    ckpt = tmp_path / "toy.pth"
    torch.save(dict(state_dict=model.state_dict()), str(ckpt))
    out = tmp_path / "cm.png"
    argv = [str(toy_config), str(ckpt), "--task", "semseg", "--out", str(out)]
    counts = cm.main(argv + ["--cfg-options", "test_dataloader.dataset.num_samples=3"])
    # the toy model predicts its dataset's labels (blue > 127) exactly
    assert counts[0, 1] == counts[1, 0] == 0
    assert counts.trace() == 3 * 24 * 32 and counts[0, 0] > 0 and counts[1, 1] > 0
    assert out.stat().st_size > 0
    printed = capsys.readouterr().out.splitlines()[-1]
    assert printed == (
        f"semseg: {3 * 24 * 32} labelled pixels of 3 images; rows in % of each "
        f"class, plot in {out}"
    )
    with pytest.raises(ValueError, match="depth is a Depth task; a confusion matrix"):
        cm.main([str(toy_config), str(ckpt), "--task", "depth"])
