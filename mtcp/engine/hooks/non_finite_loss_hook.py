"""Stop (or skip the step) when a training loss is NaN or infinite."""

import math
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.hooks.hook import DATA_BATCH
from mmengine.optim import OptimWrapper
from mmseg.registry import HOOKS

from mtcp.engine.hooks.atomic_checkpoint_hook import AtomicCheckpointHook
from mtcp.engine.loops import iteration_text
from mtcp.engine.rank_agreement import any_rank, control_group
from mtcp.models.weighting import BaseWeighting
from mtcp.utils.strict_loading import unwrap_model

# Runtime info of the message hub: steps skipped so far (kept on resume).
SKIPPED_KEY = "non_finite_skipped_steps"


class NonFiniteLossError(FloatingPointError):
    """A training loss was NaN or infinite (the step was not applied)."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check the total loss of every training iteration before it reaches
    the weights; on NaN or infinity stop training, or skip the step.

    The total loss is the weighted sum of every task term (main,
    intermediate and coherence terms), so it is non-finite exactly when a
    term that enters it is. The check (``torch.isfinite`` and one read of
    the result on the host, before the backward pass) runs inside
    ``optim_wrapper.update_params``, which the hook wraps from
    ``before_train`` to ``after_train``. A non-finite loss is never
    back-propagated: neither the weights nor the optimizer state see it, and
    the checkpoints already written are left as they were.

    - ``max_skips=0`` (default): training stops with
      :class:`NonFiniteLossError` naming the non-finite terms and their
      values, the iteration, and the last checkpoint (written before it).
    - ``max_skips=N``: up to N such steps in the whole run (the count is kept
      in checkpoints) are skipped, each with a warning naming the terms; what
      the forward pass changed is put back (the model's buffers, such as
      BatchNorm statistics, and the task weighting's period statistics,
      copied before every iteration while skipping is allowed), and the terms
      are left out of the logged averages. The (N+1)-th stops training as
      above. With gradient accumulation a skipped step also drops the
      gradients accumulated so far in its cycle.

    In distributed training the ranks reduce the flag (one all-reduce of one
    integer over gloo per iteration) before the backward pass, so all of
    them skip or stop at the same iteration. Gradients are not checked
    (``AmpOptimWrapper`` skips steps with non-finite gradients itself).

    Args:
        max_skips (int): How many non-finite steps to skip before stopping.
            Defaults to 0.
    """

    # after_train_iter before RuntimeInfoHook (VERY_HIGH), which logs the
    # loss terms
    priority = "HIGHEST"

    def __init__(self, max_skips: int = 0) -> None:
        if (
            isinstance(max_skips, bool)
            or not isinstance(max_skips, int)
            or max_skips < 0
        ):
            raise ValueError(f"max_skips must be an int >= 0, got {max_skips!r}")
        self.max_skips = max_skips
        self._wrapper: Optional[OptimWrapper] = None
        self._non_finite = False
        self._snapshot: Optional[torch.Tensor] = None
        self._buffers: list = []

    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        if not isinstance(wrapper, OptimWrapper):
            raise TypeError(
                "NonFiniteLossHook guards an OptimWrapper's update_params; the "
                f"runner's optim_wrapper is a {type(wrapper).__name__}. Remove "
                "default_hooks.non_finite_loss for this model."
            )
        control_group()
        self._skipped = runner.message_hub.get_info(SKIPPED_KEY, 0)
        self._non_finite = False
        self._weighting = getattr(unwrap_model(runner.model), "weighting", None)
        self._wrapper = wrapper
        original = wrapper.update_params

        def guarded_update_params(loss, step_kwargs=None, zero_kwargs=None):
            self._non_finite = any_rank(not bool(torch.isfinite(loss).all()))
            if not self._non_finite:
                return original(loss, step_kwargs=step_kwargs, zero_kwargs=zero_kwargs)
            # not back-propagated: the step counts, the update is dropped
            wrapper._inner_count += 1
            wrapper.zero_grad(**(zero_kwargs or {}))

        wrapper.update_params = guarded_update_params

    def before_train_iter(
        self, runner, batch_idx: int, data_batch: DATA_BATCH = None
    ) -> None:
        if not self.max_skips:
            return
        # what a forward pass changes besides the weights: BatchNorm
        # statistics and the weighting's period sums
        self._buffers = [
            (buffer, buffer.detach().clone())
            for buffer in unwrap_model(runner.model).buffers()
        ]
        if isinstance(self._weighting, BaseWeighting):
            self._snapshot = self._weighting.get_extra_state()

    def after_train_iter(
        self,
        runner,
        batch_idx: int,
        data_batch: DATA_BATCH = None,
        outputs: Optional[dict] = None,
    ) -> None:
        if not self._non_finite:
            return
        self._non_finite = False
        outputs = outputs if outputs is not None else {}
        bad = {
            name: float(value)
            for name, value in outputs.items()
            if torch.is_tensor(value) and value.numel() == 1
            if not math.isfinite(float(value))
        }
        terms = (
            ", ".join(f"{name}={value}" for name, value in bad.items())
            if bad
            else "none on this rank (another rank's loss was non-finite)"
        )
        where = iteration_text(runner, batch_idx)
        if self._skipped < self.max_skips:
            self._skipped += 1
            runner.message_hub.update_info(SKIPPED_KEY, self._skipped)
            with torch.no_grad():
                for buffer, saved in self._buffers:
                    buffer.copy_(saved)
            if self._snapshot is not None:
                self._weighting.set_extra_state(self._snapshot)
            for name in bad:
                outputs.pop(name)
            runner.logger.warning(
                f"Non-finite training loss at {where}: {terms}. The step was "
                "skipped (weights, buffers and optimizer unchanged); "
                f"{self._skipped} of "
                f"at most {self.max_skips} skipped steps used."
            )
            return
        self._unwrap()
        last = self._last_checkpoint(runner)
        allowance = (
            f"all {self.max_skips} allowed skips are used"
            if self.max_skips
            else "set default_hooks.non_finite_loss.max_skips=N to skip up to "
            "N such steps"
        )
        raise NonFiniteLossError(
            f"Non-finite training loss at {where}: {terms}. Training stops "
            f"before this step changes the weights; {last}. Lower the learning "
            f"rate, check the batch's data, or {allowance}."
        )

    @staticmethod
    def _last_checkpoint(runner) -> str:
        for hook in runner.hooks:
            if isinstance(hook, AtomicCheckpointHook) and hook.last_complete:
                return (
                    f"the last checkpoint, {hook.last_complete}, was written "
                    "before it and is unchanged"
                )
        last = runner.message_hub.get_info("last_ckpt")
        if last:
            return f"the last checkpoint is {last}"
        return "no checkpoint was written yet"

    def _unwrap(self) -> None:
        if self._wrapper is not None:
            # the instance attribute shadowed the class's method
            del self._wrapper.update_params
            self._wrapper = None

    def after_train(self, runner) -> None:
        self._unwrap()
