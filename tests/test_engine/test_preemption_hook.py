"""PreemptionHook and ResumableEpochBasedTrainLoop, in process.

A real SIGUSR1 is sent to the test process in the middle of an epoch of the
toy runner (4 iterations an epoch, LPS periods of one epoch, AdamW, a
per-iteration schedule). The run must stop after that iteration with exit
code 75 and an ``iter_<N>.pth`` named by ``last_checkpoint``, and a resumed
run must end with exactly the straight run's weights, optimizer, schedule
and weighting state. The test installs its own SIGUSR1 handler first, so a
signal that the hook does not catch cannot end the test process.
"""

import signal
from pathlib import Path

import pytest
import torch
from checkpoint_helpers import tensors
from mmengine.registry import DATA_SAMPLERS
from mmengine.runner import EpochBasedTrainLoop
from mmengine.runner.checkpoint import _load_checkpoint
from torch.utils.data import BatchSampler
from toy_runner import SignalAt, make_runner

from mtcp.engine.hooks import EXIT_PREEMPTED, PreemptionHook, TrainingInterrupted


@DATA_SAMPLERS.register_module(force=True)
class PlainBatchSampler(BatchSampler):
    """PyTorch's BatchSampler under another type: the loop cannot drop the
    skipped indices from it, so it loads and discards the skipped batches."""

    def __init__(self, sampler, batch_size: int, drop_last: bool = False) -> None:
        super().__init__(sampler, batch_size, drop_last)


@pytest.fixture
def recorder():
    """A SIGUSR1 handler of the test's own, restored afterwards."""
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(1))
    yield received
    signal.signal(signal.SIGUSR1, previous)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("straight")
    make_runner(work_dir).train()
    return work_dir


def final_state(work_dir) -> dict:
    checkpoint = _load_checkpoint(str(Path(work_dir) / "epoch_3.pth"))
    state = dict(tensors(checkpoint))
    state["schedulers"] = checkpoint["param_schedulers"]
    return state


def assert_same_final_state(work_dir, reference) -> None:
    resumed, straight = final_state(work_dir), final_state(reference)
    assert resumed.keys() == straight.keys()
    assert any(key.endswith("weighting._extra_state") for key in straight)
    assert any(key.startswith("/optimizer/state") for key in straight)
    for key in straight:
        if key == "schedulers":
            assert resumed[key] == straight[key]
        else:
            assert torch.equal(resumed[key], straight[key]), key


def interrupt(work_dir, iteration: int, times=1, **kwargs) -> TrainingInterrupted:
    runner = make_runner(work_dir, hooks=[SignalAt(iteration, times=times)], **kwargs)
    with pytest.raises(TrainingInterrupted) as stopped:
        runner.train()
    return stopped.value


@pytest.mark.parametrize("batch_sampler", [None, dict(type="PlainBatchSampler")])
@pytest.mark.parametrize("iteration", [6, 4])
def test_signal_mid_epoch_checkpoint_and_exact_resume(
    tmp_path, straight, recorder, iteration, batch_sampler
):
    """Iteration 6 is batch 2 of epoch 2; iteration 4 the last batch of
    epoch 1, before that epoch's end (period update, epoch checkpoint)."""
    stopped = interrupt(tmp_path, iteration, batch_sampler=batch_sampler)
    assert stopped.code == EXIT_PREEMPTED == 75
    checkpoint = tmp_path / f"iter_{iteration}.pth"
    assert stopped.checkpoint == str(checkpoint)
    assert (tmp_path / "last_checkpoint").read_text() == str(checkpoint)
    # epochs completed before it, its batch in its epoch
    epoch, batch = divmod(iteration - 1, 4)
    assert (
        f"stopped by SIGUSR1 after iteration {iteration} (epoch {epoch + 1}, "
        f"batch {batch + 1} of 4)" in str(stopped)
    )
    meta = _load_checkpoint(str(checkpoint))["meta"]
    assert (meta["epoch"], meta["iter"]) == (epoch, iteration)
    # the hook handled the signal and gave SIGUSR1 back to the test's handler
    assert recorder == []
    signal.raise_signal(signal.SIGUSR1)
    assert recorder == [1]

    runner = make_runner(tmp_path, resume=True, batch_sampler=batch_sampler)
    runner.train()
    assert runner.iter == 12
    assert_same_final_state(tmp_path, straight)
    # superseded by the next regular checkpoint
    assert not checkpoint.exists()


def test_second_signal_goes_to_the_previous_handler(tmp_path, recorder):
    stopped = interrupt(tmp_path, 2, times=2)
    # the first signal was the hook's, the second the test's handler's
    assert recorder == [1]
    assert stopped.checkpoint == str(tmp_path / "iter_2.pth")


def test_plain_epoch_loop_refuses_a_mid_epoch_checkpoint(tmp_path, recorder):
    interrupt(tmp_path, 6)
    runner = make_runner(tmp_path, resume=True, loop=EpochBasedTrainLoop)
    with pytest.raises(
        RuntimeError, match="train_cfg.type=ResumableEpochBasedTrainLoop"
    ):
        runner.train()


def test_signals_are_checked():
    with pytest.raises(ValueError, match=r"\['SIGKILL'\] are not"):
        PreemptionHook(signals=["SIGKILL"])
    with pytest.raises(ValueError, match=r"\['SIGTREM'\] are not"):
        PreemptionHook(signals=["SIGTERM", "SIGTREM"])
    with pytest.raises(ValueError, match="sync_interval"):
        PreemptionHook(sync_interval=0)
    assert PreemptionHook("SIGUSR2").signals == [signal.SIGUSR2]
