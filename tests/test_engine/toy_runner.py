"""A tiny two-task runner for the engine tests: a BatchNorm and a linear
layer whose two loss terms go through an LPS weighting (period = one epoch), AdamW with a
per-iteration poly schedule, 8 points in batches of 2 (4 iterations an
epoch), shuffled from the seed, and the atomic checkpoint hook."""

import itertools
import os
import signal

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mtcp.engine import ResumableEpochBasedTrainLoop
from mtcp.engine.hooks import (
    AtomicCheckpointHook,
    NonFiniteLossHook,
    PreemptionHook,
    TaskWeightingHook,
)
from mtcp.models.weighting import LPS

RUN_IDS = itertools.count()


class TwoTaskModel(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(2)
        self.linear = nn.Linear(2, 2)
        self.weighting = LPS(tasks=["semseg", "depth"])

    def forward(self, inputs, data_samples=None, mode="tensor"):
        out = self.linear(self.norm(torch.stack(inputs)))
        if mode == "loss":
            return {
                "semseg.loss": out[:, 0].pow(2).mean(),
                "depth.loss": (out[:, 1] - 1).abs().mean(),
            }
        return list(out)

    def parse_losses(self, losses):
        return self.weighting(losses)


class Points(Dataset):
    metainfo = dict(name="points")

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([1.0, index / 8]))


class SignalAt(Hook):
    """Sends ``sig`` to this process ``times`` times before iteration
    ``iteration`` (1-based)."""

    def __init__(self, iteration: int, sig=signal.SIGUSR1, times: int = 1) -> None:
        self.iteration, self.sig, self.times = iteration, sig, times

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 == self.iteration:
            for _ in range(self.times):
                os.kill(os.getpid(), self.sig)


class NaNInputsAt(Hook):
    """Makes the inputs of the given iterations (1-based) NaN."""

    def __init__(self, *iterations: int) -> None:
        self.iterations = iterations

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 in self.iterations:
            for inputs in data_batch["inputs"]:
                inputs.fill_(float("nan"))


def make_runner(
    work_dir,
    max_epochs: int = 3,
    resume: bool = False,
    hooks=(),
    loop=ResumableEpochBasedTrainLoop,
    batch_sampler=None,
    max_skips: int = 0,
    log_processor=None,
) -> Runner:
    loader = dict(
        dataset=Points(),
        sampler=dict(type="DefaultSampler", shuffle=True),
        batch_size=2,
        collate_fn=dict(type="pseudo_collate"),
    )
    if batch_sampler is not None:
        loader["batch_sampler"] = batch_sampler
    torch.manual_seed(0)  # the model is built here, before the Runner seeds
    return Runner(
        model=TwoTaskModel(),
        work_dir=str(work_dir),
        experiment_name=f"toy_runner{next(RUN_IDS)}",
        train_dataloader=loader,
        train_cfg=dict(type=loop, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type="AdamW", lr=0.05)),
        param_scheduler=dict(
            type="PolyLR",
            power=0.9,
            by_epoch=True,
            begin=0,
            end=max_epochs,
            convert_to_iter_based=True,
        ),
        default_hooks=dict(
            checkpoint=AtomicCheckpointHook(interval=1, max_keep_ckpts=2),
            logger=dict(type="LoggerHook", interval=1),
            preemption=PreemptionHook(signals=["SIGUSR1"]),
            non_finite_loss=NonFiniteLossHook(max_skips=max_skips),
        ),
        custom_hooks=[TaskWeightingHook(), *hooks],
        resume=resume,
        log_processor=log_processor,
        visualizer=dict(
            type="Visualizer",
            vis_backends=[dict(type="LocalVisBackend")],
            name=f"toy_visualizer{next(RUN_IDS)}",
        ),
        randomness=dict(seed=0, deterministic=True),
        default_scope="mmengine",
    )
