"""A checkpoint written before the task-head redesign loads into today's model.

``tests/fixtures/demo_state_dict_946a4d4.json`` lists every state-dict entry
(dtype and shape) of ``configs/mtcp_demo.py``'s model as commit 946a4d4 built
it, with its weighting state in that commit's layout (no per-task counts). The
test writes a checkpoint of that form with seeded values and loads it with
``init_model``, which loads strictly.
"""

import json
from pathlib import Path

import torch

from mtcp.apis import init_model

REPO = Path(__file__).resolve().parents[2]
RECORD = REPO / "tests/fixtures/demo_state_dict_946a4d4.json"


def old_checkpoint(path: Path) -> dict:
    record = json.loads(RECORD.read_text())
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, (dtype, *shape) in record["dtype_and_shape"].items():
        values = torch.rand(shape, generator=gen, dtype=torch.float64) + 0.5
        state[key] = values.to(getattr(torch, dtype))
    state["weighting._extra_state"] = torch.tensor(
        record["weighting._extra_state"], dtype=torch.float64
    )
    torch.save({"state_dict": state, "meta": {"epoch": 5}}, path)
    return state


def test_pre_redesign_demo_checkpoint_loads_strictly(tmp_path):
    ckpt = tmp_path / "epoch_5.pth"
    old = old_checkpoint(ckpt)
    model = init_model(str(REPO / "configs/mtcp_demo.py"), str(ckpt))
    new = model.state_dict()
    assert set(new) == set(old)
    for key, value in old.items():
        if key != "weighting._extra_state":
            assert torch.equal(new[key], value), key
    # the old weighting layout is read with every task counted in every step
    assert model.weighting.tasks == ["semseg", "depth", "normals"]
    assert model.weighting.weights == [1.0, 1.0, 1.0]
