import glob
import json
import os.path as osp
import runpy

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmseg.registry import MODELS
from PIL import Image
from torch.utils.data import Dataset
from weighting_helpers import state_summary

import mtcp  # noqa: F401
from mtcp.engine.hooks import TaskWeightingHook

TASKS = ["semseg", "depth"]
PLOT_TOOL = osp.join(
    osp.dirname(__file__), "..", "..", "tools", "analysis_tools", "analyze_logs.py"
)


class ToyPoints(Dataset):
    """16 fixed points with a large-scale and a small-scale target."""

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(16, 4, generator=generator)
        self.big = 10 * self.x @ torch.tensor([1.0, -2.0, 0.5, 1.0])
        self.small = 0.1 * self.x @ torch.tensor([0.2, 0.1, -1.0, 0.3])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict:
        return dict(x=self.x[index], big=self.big[index], small=self.small[index])


class ToyMultiTask(BaseModel):
    """Two linear heads whose losses differ in scale and learning speed.

    ``parse_losses`` hands the named loss terms to ``self.weighting``, as
    MTCP does.
    """

    def __init__(self, weighting: dict) -> None:
        super().__init__()
        self.semseg_head = nn.Linear(4, 1)
        self.depth_head = nn.Linear(4, 1)
        self.weighting = MODELS.build(weighting)

    def forward(self, x, big, small, mode="loss"):
        semseg = self.semseg_head(x).squeeze(1)
        depth = self.depth_head(x).squeeze(1)
        if mode != "loss":
            return [semseg, depth]
        return {
            "semseg.loss": (semseg - big).pow(2).mean(),
            "depth.loss": (depth - small).abs().mean(),
            "depth.aux_8.loss": (depth - small).pow(2).mean(),
        }

    def parse_losses(self, losses):
        return self.weighting(losses)


def make_runner(work_dir, max_iters, name, load_from=None, by_epoch=False):
    torch.manual_seed(0)
    model = ToyMultiTask(dict(type="LPS", tasks=TASKS, spread=2.5))
    if by_epoch:
        train_cfg = dict(by_epoch=True, max_epochs=max_iters // 4)
        hook = dict(type="TaskWeightingHook")
    else:
        train_cfg = dict(by_epoch=False, max_iters=max_iters)
        hook = dict(type="TaskWeightingHook", interval=2)
    return Runner(
        model=model,
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=ToyPoints(),
            sampler=dict(type="DefaultSampler", shuffle=False),
            batch_size=4,
            num_workers=0,
            collate_fn=dict(type="default_collate"),
        ),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.05)),
        train_cfg=train_cfg,
        custom_hooks=[hook],
        default_hooks=dict(
            checkpoint=dict(type="CheckpointHook", interval=4, by_epoch=by_epoch),
            logger=dict(type="LoggerHook", interval=1),
        ),
        visualizer=dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend")]),
        default_scope="mmseg",
        load_from=load_from,
        resume=load_from is not None,
        log_level="WARNING",
    )


def final_state(runner):
    model = runner.model
    return (
        state_summary(model.weighting),
        {
            k: v.clone()
            for k, v in model.state_dict().items()
            if k != "weighting._extra_state"
        },
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("uninterrupted")
    runner = make_runner(work_dir, 8, "toy_full")
    runner.train()
    return work_dir, final_state(runner)


def read_scalars(work_dir):
    (path,) = glob.glob(osp.join(str(work_dir), "*", "vis_data", "scalars.json"))
    with open(path) as f:
        return path, [json.loads(line) for line in f if line.strip()]


def test_weights_update_every_interval(uninterrupted):
    _, (state, _) = uninterrupted
    assert state["num_periods"] == 4
    assert state["period_count"] == 0
    assert len(state["history"]) == 2  # K + 1
    # semseg (squared error of a 10x target) falls much faster than depth.
    semseg, depth = state["weights"]
    assert depth > 1 > semseg
    assert semseg + depth == pytest.approx(2.0)


def test_resume_continues_with_the_same_weights_and_history(uninterrupted, tmp_path):
    _, (expected_state, expected_params) = uninterrupted
    first, second = tmp_path / "first", tmp_path / "second"
    make_runner(first, 4, "toy_first_half").train()
    checkpoint = str(first / "iter_4.pth")
    runner = make_runner(second, 8, "toy_second_half", load_from=checkpoint)
    runner.train()
    state, params = final_state(runner)
    assert state == expected_state
    # The second runner really resumed: it ran iterations 5-8 only.
    _, records = read_scalars(second)
    assert [r["step"] for r in records if "weight/semseg" in r] == [6, 8]
    for name, value in expected_params.items():
        assert torch.equal(params[name], value), name


def test_scalars_json_has_the_period_updates(uninterrupted):
    work_dir, (state, _) = uninterrupted
    _, records = read_scalars(work_dir)
    updates = [r for r in records if "weight/semseg" in r]
    assert [r["step"] for r in updates] == [2, 4, 6, 8]
    last = updates[-1]
    assert [last["weight/semseg"], last["weight/depth"]] == state["weights"]
    assert [last["period_loss/semseg"], last["period_loss/depth"]] == state["history"][
        -1
    ]
    # Until K = 1 earlier period exists the weights stay 1.
    assert updates[0]["weight/semseg"] == 1.0
    # The weights used at every iteration reach the log through log_vars.
    per_iter = [r for r in records if "weight.semseg" in r]
    assert [r["step"] for r in per_iter] == list(range(1, 9))
    # Iterations 7 and 8 use the weights of the update at iteration 6.
    assert per_iter[-1]["weight.semseg"] == updates[2]["weight/semseg"]


def test_plot_tool_draws_the_run(uninterrupted, tmp_path):
    work_dir, _ = uninterrupted
    out = tmp_path / "weights.png"
    tool = runpy.run_path(PLOT_TOOL)
    tool["main"](
        [str(work_dir), "--out", str(out), "--panels", "weights", "losses"]
        + ["--size", "6", "4", "--dpi", "50"]
    )
    with Image.open(out) as image:
        assert image.size == (300, 200)


def test_epoch_based_loop_updates_once_per_epoch(tmp_path):
    # 16 points in batches of 4: 4 iterations an epoch.
    runner = make_runner(tmp_path, 8, "toy_epochs", by_epoch=True)
    runner.train()
    assert runner.model.weighting.num_periods == 2
    _, records = read_scalars(tmp_path)
    assert [r["step"] for r in records if "weight/semseg" in r] == [4, 8]


def test_epoch_period_needs_an_epoch_based_loop(tmp_path):
    runner = make_runner(tmp_path, 2, "toy_bad_hook")
    hook = TaskWeightingHook()
    with pytest.raises(ValueError, match="interval"):
        hook.before_train(runner)


@pytest.mark.parametrize("interval", [0, 1.5, True])
def test_bad_interval(interval):
    with pytest.raises(ValueError, match="interval"):
        TaskWeightingHook(interval=interval)
