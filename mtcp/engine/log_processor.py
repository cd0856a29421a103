"""A training log line grouped by task."""

import re
from collections import OrderedDict
from typing import Dict, List, Tuple

from mmengine.runner import LogProcessor
from mmseg.registry import LOG_PROCESSORS

# The loss terms of a multi-task model (see BaseWeighting).
_MAIN = re.compile(r"^(\w+)\.loss$")
_AUX = re.compile(r"^(\w+)\.aux_\w+\.loss$")
_COHERENCE = re.compile(r"^coherence\.(\w+)$")
_WEIGHT = re.compile(r"^weight\.(\w+)$")
# The aux pattern first: an intermediate head's name also ends in ".loss".
_TERM_PATTERNS = (("aux", _AUX), ("main", _MAIN), ("coh", _COHERENCE), ("w", _WEIGHT))
# What mmengine puts on the line before the loss terms.
_NOT_TERMS = ("time", "data_time", "eta", "epoch", "iter", "memory")


@LOG_PROCESSORS.register_module()
class MultiTaskLogProcessor(LogProcessor):
    """mmengine's ``LogProcessor`` (same arguments) whose training line
    groups the loss terms by task.

    mmengine prints every logged variable as ``name: value``; with three
    tasks, two intermediate heads each, coherence terms and weights that is
    a line of about 500 characters. Here the terms after ``loss`` are::

        semseg: 1.5332 (aux 1.6070, coh 0.5666, w 0.9436)  depth: ...

    the final head's loss of each task, the mean of its intermediate heads'
    losses (what the weighting adds to it), its coherence term and its
    current weight; any other variable follows as ``name: value``. Only the
    printed line changes: every term still goes, under its own name, to the
    message hub, ``vis_data/scalars.json`` and the visualizer's backends.
    Validation and test lines are mmengine's.
    """

    def get_log_after_iter(self, runner, batch_idx: int, mode: str) -> Tuple[dict, str]:
        tag, log_str = super().get_log_after_iter(runner, batch_idx, mode)
        if mode != "train":
            return tag, log_str
        terms = OrderedDict(
            (name, value)
            for name, value in tag.items()
            if name not in _NOT_TERMS and not name.endswith("lr")
        )
        tail = "  ".join(
            f"{name}: {self._format(value)}" for name, value in terms.items()
        )
        if not terms or not log_str.endswith(tail):
            return tag, log_str
        return tag, log_str[: len(log_str) - len(tail)] + self._grouped(terms)

    def _format(self, value) -> str:
        return (
            f"{value:.{self.num_digits}f}" if isinstance(value, float) else str(value)
        )

    def _grouped(self, terms: Dict[str, float]) -> str:
        tasks: Dict[str, Dict[str, List[float]]] = OrderedDict()
        names: Dict[str, List[str]] = {}
        others = []
        for name, value in terms.items():
            found = None
            if name != "loss" and isinstance(value, float):
                for term, pattern in _TERM_PATTERNS:
                    found = pattern.match(name)
                    if found:
                        task = found.group(1)
                        tasks.setdefault(task, {}).setdefault(term, []).append(value)
                        names.setdefault(task, []).append(name)
                        break
            if not found:
                others.append(name)
        groups = []
        for task, parts in tasks.items():
            if "main" not in parts:
                # no final-head loss: not a task, printed as is
                others += names[task]
                continue
            details = [
                f"{term} {self._format(sum(parts[term]) / len(parts[term]))}"
                for term in ("aux", "coh", "w")
                if term in parts
            ]
            text = f"{task}: {self._format(parts['main'][0])}"
            groups.append(text + (f" ({', '.join(details)})" if details else ""))
        total = [n for n in others if n == "loss"]
        plain = [
            f"{name}: {self._format(terms[name])}"
            for name in total + [n for n in others if n != "loss"]
        ]
        return "  ".join(plain[: len(total)] + groups + plain[len(total) :])
