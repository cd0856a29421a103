import re
import subprocess
import sys
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mtcp.apis import inference_model, init_model, show_result
from mtcp.models.segmentors import MultiTaskTTAModel
from mtcp.structures import TASKS

REPO = Path(__file__).resolve().parents[2]


def readme_snippets() -> list:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Python API") :]
    section = section[: section.index("\n### ", 1)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_snippet_runs_on_the_demo_model(demo_files):
    root, _ = demo_files
    code, inferencer_code = readme_snippets()
    assert len(code.strip().splitlines()) == 5
    torch.set_num_threads(1)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    sample = namespace["sample"]
    for task in ("semseg", "depth", "normals"):
        pred = getattr(sample, TASKS[task].pred_field).data
        assert tuple(pred.shape[-2:]) == (96, 128)
    assert (root / "outputs" / "semseg" / "room.png").is_file()
    depth = np.load(root / "outputs" / "depth" / "room.npy")
    np.testing.assert_array_equal(depth, sample.pred_depth.data[0].numpy())
    panel = mmcv.imread(str(root / "outputs" / "panels" / "room.png"))
    assert panel.shape[0] > 96 and panel.shape[1] == 128 * 4

    # the inferencer: the same model by config name, the same predictions
    (root / "outputs" / "depth" / "room.npy").unlink()
    namespace = {}
    exec(compile(inferencer_code, "README.md", "exec"), namespace)
    (depth,) = [p["depth"] for p in namespace["results"]["predictions"]]
    np.testing.assert_array_equal(depth, sample.pred_depth.data[0].numpy())
    assert (root / "outputs" / "depth" / "room.npy").is_file()


def test_array_input_matches_file_and_tta_averages_image_and_mirror(demo_files):
    root, rgb = demo_files
    torch.set_num_threads(1)
    ckpt = "work_dirs/mtcp_demo/epoch_5.pth"
    model = init_model("configs/mtcp_demo.py", ckpt)
    from_file, from_array = inference_model(model, ["room.png", rgb])
    for task in model.tasks:
        field = TASKS[task].pred_field
        torch.testing.assert_close(
            getattr(from_file, field).data, getattr(from_array, field).data
        )
    with pytest.raises(ValueError, match="needs a name for an image array"):
        show_result(model, rgb, from_array, out_dir=str(root / "x"))
    with pytest.raises(ValueError, match=r"tasks \['parts'\] were not predicted"):
        show_result(model, "room.png", from_file, str(root / "x"), tasks=["parts"])
    # tta: the config's tta_model on its tta_pipeline's views (image, mirror)
    tta = init_model("configs/mtcp_demo.py", ckpt, tta=True)
    assert isinstance(tta, MultiTaskTTAModel) and tta.module.tasks == model.tasks
    (merged,) = inference_model(tta, "room.png")
    (mirror,) = inference_model(model, np.ascontiguousarray(rgb[:, ::-1]))
    depth = (from_file.pred_depth.data + mirror.pred_depth.data.flip(-1)) / 2
    torch.testing.assert_close(merged.pred_depth.data, depth)
    sign = torch.tensor([-1.0, 1.0, 1.0]).view(3, 1, 1)
    normals = from_file.pred_normals.data + mirror.pred_normals.data.flip(-1) * sign
    torch.testing.assert_close(
        merged.pred_normals.data, torch.nn.functional.normalize(normals, dim=0)
    )
    probs = (
        from_file.sem_seg_logits.data.softmax(0)
        + mirror.sem_seg_logits.data.flip(-1).softmax(0)
    ) / 2
    torch.testing.assert_close(merged.sem_seg_logits.data.softmax(0), probs)
    assert not torch.allclose(merged.pred_depth.data, from_file.pred_depth.data)


def test_init_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Config file not found"):
        init_model(str(tmp_path / "nope.py"))
    with pytest.raises(FileNotFoundError, match="Checkpoint file not found"):
        init_model(str(REPO / "configs" / "mtcp_demo.py"), str(tmp_path / "x.pth"))
    cfg = Config.fromfile(str(REPO / "configs" / "mtcp_demo.py"))
    cfg.pop("tta_pipeline")
    cfg.dump(str(tmp_path / "no_tta.py"))
    with pytest.raises(ValueError, match="no_tta.py has no tta_pipeline"):
        init_model(str(tmp_path / "no_tta.py"), tta=True)


def test_test_tool_does_not_import_train_tool():
    code = (
        "import sys, runpy; sys.path.insert(0, 'tools'); "
        "runpy.run_path('tools/test.py', run_name='not_main'); "
        "assert 'train' not in sys.modules, 'tools/test.py imported train'"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
