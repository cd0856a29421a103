"""The interface every task weighting strategy implements."""

import math
from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine import dist

from mtcp.structures import TASKS, check_tasks

from .loss_terms import split_loss_terms


class BaseWeighting(nn.Module, metaclass=ABCMeta):
    """Combine a multi-task model's named loss terms into one objective.

    The model hands :meth:`forward` its loss dict:

    - ``{task}.loss``: the final head of ``task`` (required for every task),
    - ``{task}.aux_<name>.loss``: intermediate heads of ``task`` (optional),
    - ``coherence.{task}``: coherence terms, already scaled; added unweighted.

    Per task, the S intermediate terms are averaged and added to the main term,
    ``L_t = f(l_t) + (1/S) sum_s f(l_t^(s))``, where ``f`` is
    :meth:`project` (the identity unless a strategy overrides it). The
    strategy turns the vector of ``L_t`` into the total through
    :meth:`combine`.

    While training, the detached ``L_t`` are summed over the current period.
    :meth:`end_period` (called by ``TaskWeightingHook`` at the end of each
    epoch or every N iterations) reduces them across ranks to the period
    means, appends those to the history and lets the strategy update its
    weights in :meth:`update_weights`.

    With partially labelled data a batch may hold no labelled pixel of a
    task (``labelled`` of :meth:`forward`): that task's term is left out of
    the total and of the period statistics, so its period mean is the mean
    over the iterations that had its labels, and NaN for a period without
    any (the strategies then keep their weights).

    The weights, the history and the running sums are the module's *extra
    state* (see :meth:`get_extra_state`): they travel in the model's
    ``state_dict`` and so in every checkpoint, and unlike registered buffers
    they are not overwritten by DDP's buffer broadcast from rank 0, which
    would replace each rank's own running sums before the reduction.

    Args:
        tasks (Sequence[str]): Task names, in the order used for the weights.
        history_size (int): How many period means to keep (the newest last).
    """

    #: Whether the weights always sum to T (checked on a loaded state).
    weights_sum_to_t = False

    def __init__(self, tasks: Sequence[str], history_size: int) -> None:
        super().__init__()
        self.tasks = check_tasks(tasks, list(TASKS), "tasks")
        if history_size < 1:
            raise ValueError(f"`history_size` must be >= 1, got {history_size}")
        self.history_size = history_size
        self._weights: List[float] = [1.0] * self.num_tasks
        self._history: List[List[float]] = []
        self._period_sums: List[float] = [0.0] * self.num_tasks
        self._period_counts: List[float] = [0.0] * self.num_tasks
        self._period_count = 0
        self._num_periods = 0

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def weights(self) -> List[float]:
        """The per-task weights applied now, in the order of ``tasks``."""
        return list(self._weights)

    @property
    def history(self) -> List[List[float]]:
        """Means of ``L_t`` of the last completed periods, oldest first."""
        return [list(means) for means in self._history]

    @property
    def num_periods(self) -> int:
        """Number of periods completed since the start of training."""
        return self._num_periods

    def project(self, term: torch.Tensor) -> torch.Tensor:
        """Map one raw loss term onto the scale the strategy works on."""
        return term

    def combine(
        self, task_losses: torch.Tensor, labelled: torch.Tensor
    ) -> torch.Tensor:
        """Weighted sum of the per-task losses ``(T,)`` of the labelled tasks.

        The weights are plain numbers, so they enter the gradient as
        constants.

        Args:
            task_losses (Tensor): ``L_t`` per task, (T,).
            labelled (Tensor): Bool (T,), whether the batch had a labelled
                pixel of the task; the others are left out.
        """
        weights = task_losses.new_tensor(self._weights)
        return torch.where(labelled, weights * task_losses, 0.0).sum()

    @abstractmethod
    def update_weights(self) -> None:
        """Update the weights from :attr:`history` at the end of a period."""

    def forward(
        self,
        losses: Dict[str, torch.Tensor],
        labelled: Optional[Mapping[str, Any]] = None,
    ) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """Combine the loss terms.

        Args:
            losses (dict[str, Tensor]): Scalar loss terms named as described
                in the class docstring.
            labelled (Mapping[str, bool | Tensor], optional): Per task,
                whether the batch had any labelled pixel of it (see
                :class:`TaskLosses`); a task not listed counts as labelled.
                Defaults to None (every task labelled).

        Returns:
            tuple[Tensor, OrderedDict]: The total loss and the log variables:
            ``loss`` (the total), every raw term (detached) and
            ``weight.{task}`` (float) for each task.
        """
        main, aux, coherence = split_loss_terms(losses, self.tasks)
        per_task = []
        for task in self.tasks:
            task_loss = self.project(main[task])
            if aux[task]:
                task_loss = (
                    task_loss
                    + torch.stack([self.project(term) for term in aux[task]]).mean()
                )
            per_task.append(task_loss)
        task_losses = torch.stack(per_task)
        labelled = self._labelled_mask(labelled, task_losses)
        total = self.combine(task_losses, labelled)
        if coherence:
            total = total + torch.stack(coherence).sum()

        if self.training:
            # One host transfer per iteration; python floats keep the sums
            # exact in float64 on any device and checkpoint-friendly.
            values, present = (
                torch.stack([task_losses.detach(), labelled.to(task_losses.dtype)])
                .to("cpu", torch.float64)
                .tolist()
            )
            self._period_sums = [
                s + v * p for s, v, p in zip(self._period_sums, values, present)
            ]
            self._period_counts = [c + p for c, p in zip(self._period_counts, present)]
            self._period_count += 1

        log_vars: Dict[str, Any] = OrderedDict(loss=total.detach())
        for name, value in losses.items():
            log_vars[name] = value.detach()
        for task, weight in zip(self.tasks, self.weights):
            log_vars[f"weight.{task}"] = weight
        return total, log_vars

    def _labelled_mask(
        self, labelled: Optional[Mapping[str, Any]], like: torch.Tensor
    ) -> torch.Tensor:
        """Bool (T,) on ``like``'s device: which tasks the batch labelled."""
        if labelled is None:
            return torch.ones(self.num_tasks, dtype=torch.bool, device=like.device)
        unknown = sorted(set(labelled) - set(self.tasks))
        if unknown:
            raise KeyError(f"`labelled` names {unknown}, not among {self.tasks}")
        return torch.stack(
            [
                torch.as_tensor(labelled.get(task, True), device=like.device)
                .reshape(())
                .bool()
                for task in self.tasks
            ]
        )

    def end_period(self) -> Dict[str, float]:
        """Close the current period and update the weights.

        The per-rank sums and counts are all-reduced (a no-op outside
        distributed training), so every rank computes the same means and
        therefore the same weights.

        Returns:
            dict[str, float]: ``weight/{task}`` (the weights for the next
            period) and ``period_loss/{task}`` (the period mean of ``L_t``
            over the iterations with labels of the task; NaN if none had).
        """
        stats = torch.tensor(
            self._period_sums + self._period_counts + [float(self._period_count)],
            dtype=torch.float64,
        )
        dist.all_reduce(stats, op="sum")
        if stats[-1].item() == 0:
            raise RuntimeError(
                f"{type(self).__name__}.end_period() was called without any "
                "training iteration since the last period; check the "
                "interval of TaskWeightingHook"
            )
        sums, counts = stats[: self.num_tasks], stats[self.num_tasks : -1]
        means = torch.where(counts > 0, sums / counts.clamp(min=1), math.nan).tolist()
        for task, mean, count in zip(self.tasks, means, counts.tolist()):
            if count > 0 and not math.isfinite(mean):
                raise FloatingPointError(
                    f"The mean loss of task {task!r} over period "
                    f"{self._num_periods + 1} is {mean}; the weights cannot "
                    "be updated from a non-finite loss"
                )
        self._history = (self._history + [means])[-self.history_size :]
        self._num_periods += 1
        self._period_sums = [0.0] * self.num_tasks
        self._period_counts = [0.0] * self.num_tasks
        self._period_count = 0
        self.update_weights()

        result = {}
        for task, weight, mean in zip(self.tasks, self.weights, means):
            result[f"weight/{task}"] = weight
            result[f"period_loss/{task}"] = mean
        return result

    def get_extra_state(self) -> torch.Tensor:
        """The weighting state as one float64 vector.

        One tensor, because mmengine's Runner broadcasts every state-dict
        entry as a single tensor when distributed training starts, and
        ``torch.load(weights_only=True)`` accepts it; float64 holds the
        python floats, counts and characters exactly. Layout: ``[-2, T,
        then per task its name (length, character codes), period_count,
        num_periods, P, weights (T), period sums (T), per-task period
        counts (T), history (P x T)]``. The leading -2 marks this layout
        (keyed by task name); older checkpoints start with T and name each
        task by its position in the task table of their time
        (:data:`LEGACY_TASK_ORDER`), and may lack the per-task counts (then
        every task counts in every iteration).
        """
        names = []
        for task in self.tasks:
            names += [float(len(task))] + [float(ord(c)) for c in task]
        counts = [self._period_count, self._num_periods, len(self._history)]
        history = [m for means in self._history for m in means]
        flat = [STATE_BY_NAME, len(self.tasks)] + names + counts
        flat += self._weights + self._period_sums + self._period_counts + history
        return torch.tensor(flat, dtype=torch.float64)

    def set_extra_state(self, state: torch.Tensor) -> None:
        """Restore the state written by :meth:`get_extra_state`, after
        :meth:`check_state`."""
        parsed = self.check_state(state)
        self._weights = parsed["weights"]
        self._period_sums = parsed["period_sums"]
        self._period_counts = parsed["period_counts"]
        self._history = parsed["history"]
        self._period_count = parsed["period_count"]
        self._num_periods = parsed["num_periods"]

    def check_state(self, state: torch.Tensor) -> Dict[str, Any]:
        """Parse a state written by :meth:`get_extra_state` and check it.

        Returns:
            dict: ``weights``, ``period_sums``, ``period_counts``,
            ``history`` (lists of floats), ``period_count`` and
            ``num_periods`` (ints).

        Raises:
            ValueError: if the state is for other tasks, is truncated, or
                holds values :meth:`check_weights` refuses or non-finite
                period losses.
        """
        flat = torch.as_tensor(state, dtype=torch.float64).flatten().tolist()
        num_tasks = len(self.tasks)
        try:
            saved_tasks, flat = _saved_tasks(flat)
        except (IndexError, ValueError, OverflowError) as error:
            raise ValueError(
                f"The checkpoint's weighting state is malformed ({error}): "
                f"{flat[:8]}..."
            ) from error
        if saved_tasks != self.tasks:
            raise ValueError(
                f"The checkpoint's weighting state is for tasks {saved_tasks}, "
                f"but this {type(self).__name__} has tasks {self.tasks}"
            )
        period_count, num_periods, num_history = (int(v) for v in flat[:3])
        values = flat[3:]
        if len(values) == (2 + num_history) * num_tasks:
            # written before the per-task counts existed
            values[2 * num_tasks : 2 * num_tasks] = [float(period_count)] * num_tasks
        if len(values) != (3 + num_history) * num_tasks:
            raise ValueError(
                f"The checkpoint's weighting state has {len(values)} values after "
                f"its header; {(3 + num_history) * num_tasks} were expected"
            )
        parsed = dict(
            weights=values[:num_tasks],
            period_sums=values[num_tasks : 2 * num_tasks],
            period_counts=values[2 * num_tasks : 3 * num_tasks],
            history=[
                values[(3 + p) * num_tasks : (4 + p) * num_tasks]
                for p in range(num_history)
            ],
            period_count=period_count,
            num_periods=num_periods,
        )
        problem = self.check_weights(parsed["weights"])
        # A period mean is NaN for a task without labels in that period
        # (partially labelled data); anything else must be finite.
        finite = parsed["period_sums"] + parsed["period_counts"]
        finite += [v for means in parsed["history"] for v in means if not math.isnan(v)]
        if problem is None and not all(math.isfinite(v) for v in finite):
            problem = "non-finite period losses"
        if problem is not None:
            raise ValueError(
                f"The checkpoint's {type(self).__name__} state has {problem}: "
                f"weights {dict(zip(self.tasks, parsed['weights']))}, period "
                f"loss sums {parsed['period_sums']}, period means "
                f"{parsed['history']}"
            )
        return parsed

    def check_weights(self, weights: Sequence[float]) -> Optional[str]:
        """What is wrong with ``weights`` as this strategy's weights, or None.

        Every weight must be finite and >= 0, and one at least > 0 (a fixed
        weight may switch a task off); with ``weights_sum_to_t`` they sum to T.
        """
        if not all(math.isfinite(w) and w >= 0 for w in weights):
            return "weights that are not finite and >= 0"
        if not any(w > 0 for w in weights):
            return "no positive weight"
        if self.weights_sum_to_t and not math.isclose(
            sum(weights), self.num_tasks, rel_tol=1e-6
        ):
            return f"weights that sum to {sum(weights)}, not T={self.num_tasks}"
        return None

    def extra_repr(self) -> str:
        return f"tasks={self.tasks}"


#: First value of a weighting state keyed by task name.
STATE_BY_NAME = -2.0
#: The task table's order when weighting states named tasks by position.
LEGACY_TASK_ORDER = ("semseg", "parts", "depth", "normals", "saliency", "edge")


def _saved_tasks(flat: List[float]) -> Tuple[List[str], List[float]]:
    """The task names of a saved weighting state and the values after them."""
    if flat and flat[0] == STATE_BY_NAME:
        tasks, pos = [], 2
        for _ in range(int(flat[1])):
            length = int(flat[pos])
            tasks.append("".join(chr(int(c)) for c in flat[pos + 1 : pos + 1 + length]))
            pos += 1 + length
        return tasks, flat[pos:]
    count = int(flat[0])
    return [LEGACY_TASK_ORDER[int(i)] for i in flat[1 : 1 + count]], flat[1 + count :]
