"""Drive the period updates of a model's task weighting."""

from typing import Dict, Optional

from mmengine.hooks import Hook
from mmengine.hooks.hook import DATA_BATCH
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import HOOKS

from mtcp.models.weighting import BaseWeighting
from mtcp.utils.strict_loading import unwrap_model


@HOOKS.register_module()
class TaskWeightingHook(Hook):
    """Call ``model.weighting.end_period()`` at the end of every period.

    A period is one epoch (``interval=None``, for ``EpochBasedTrainLoop``)
    or ``interval`` training iterations (any loop; required for
    ``IterBasedTrainLoop``).

    Each update is logged as one line in the text log and as the scalars
    ``weight/{task}`` and ``period_loss/{task}`` through
    ``runner.visualizer.add_scalars`` (so ``vis_data/scalars.json``,
    TensorBoard and the other backends get them), at the step of the number
    of completed iterations. They are not put in the message hub under
    ``train/``: the LoggerHook would write them again at every logging
    interval, and smooth ``period_loss/*`` (its name matches the loss
    pattern) over several periods. The weights used at every iteration are
    already in the model's log variables as ``weight.{task}``.

    The hook runs at ``NORMAL`` priority, before the ``CheckpointHook``, so a
    checkpoint written at the end of a period holds the updated weights.

    Args:
        interval (int, optional): Period length in iterations. ``None``
            means one epoch. Defaults to None.
    """

    priority = "NORMAL"

    def __init__(self, interval: Optional[int] = None) -> None:
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int) or interval < 1
        ):
            raise ValueError(
                f"`interval` of TaskWeightingHook must be None (one period per "
                f"epoch) or an int >= 1, got {interval!r}"
            )
        self.interval = interval

    def before_train(self, runner) -> None:
        if self.interval is None and not isinstance(
            runner.train_loop, EpochBasedTrainLoop
        ):
            raise ValueError(
                "TaskWeightingHook(interval=None) updates once per epoch, which "
                f"needs an EpochBasedTrainLoop; the runner uses "
                f"{type(runner.train_loop).__name__}: set `interval` to the "
                "period length in iterations"
            )
        self._get_weighting(runner)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse a checkpoint whose weighting state is invalid (NaN, negative
        or, for LPS, not summing to T), naming the checkpoint file."""
        model = unwrap_model(runner.model)
        weighting = self._get_weighting(runner)
        name = next(n for n, module in model.named_modules() if module is weighting)
        state = checkpoint.get("state_dict", {}).get(f"{name}._extra_state")
        if state is None:
            return
        try:
            weighting.check_state(state)
        except ValueError as error:
            source = runner.cfg.get("load_from") or (
                f"the checkpoint of epoch {checkpoint.get('meta', {}).get('epoch')}"
            )
            raise ValueError(f"{source}: {error}") from None

    def after_train_iter(
        self,
        runner,
        batch_idx: int,
        data_batch: DATA_BATCH = None,
        outputs: Optional[dict] = None,
    ) -> None:
        if self.interval is not None and self.every_n_train_iters(
            runner, self.interval
        ):
            # runner.iter counts from 0 here and is incremented after the hooks.
            self._end_period(runner, step=runner.iter + 1)

    def after_train_epoch(self, runner) -> None:
        if self.interval is None:
            self._end_period(runner, step=runner.iter)

    def _end_period(self, runner, step: int) -> None:
        weighting = self._get_weighting(runner)
        scalars: Dict[str, float] = weighting.end_period()
        weights = " ".join(
            f"{task}: {scalars[f'weight/{task}']:.4f}" for task in weighting.tasks
        )
        losses = " ".join(
            f"{task}: {scalars[f'period_loss/{task}']:.4f}" for task in weighting.tasks
        )
        runner.logger.info(
            f"Task weighting period {weighting.num_periods} (iter {step}): "
            f"weights {weights} | period losses {losses}"
        )
        runner.visualizer.add_scalars(scalars, step=step)

    @staticmethod
    def _get_weighting(runner) -> BaseWeighting:
        model = unwrap_model(runner.model)
        weighting = getattr(model, "weighting", None)
        if not isinstance(weighting, BaseWeighting):
            raise TypeError(
                "TaskWeightingHook needs a model with a `weighting` attribute "
                f"that is a BaseWeighting; {type(model).__name__}.weighting is "
                f"{type(weighting).__name__}"
            )
        return weighting
