"""The naming scheme of a multi-task model's loss terms, which the weighting
strategies read: ``{task}.loss``, ``{task}.aux_<name>.loss`` and
``coherence.{task}``."""

from typing import Any, Dict, List, Tuple

import torch

COHERENCE_PREFIX = "coherence"


def split_loss_terms(
    losses: Dict[str, torch.Tensor], tasks: List[str]
) -> Tuple[Dict[str, torch.Tensor], Dict[str, List[torch.Tensor]], List[torch.Tensor]]:
    """Sort a model's loss terms into main, intermediate and coherence terms.

    Args:
        losses (dict[str, Tensor]): Scalar terms named ``{task}.loss``,
            ``{task}.aux_<name>.loss`` or ``coherence.{task}``.
        tasks (list[str]): The tasks the terms may name; each needs its main
            term.

    Returns:
        tuple: The main term of each task, the intermediate terms of each
        task (lists) and the coherence terms (a list).
    """
    main: Dict[str, torch.Tensor] = {}
    aux: Dict[str, List[torch.Tensor]] = {task: [] for task in tasks}
    coherence: List[torch.Tensor] = []
    expected = (
        "'{task}.loss', '{task}.aux_<name>.loss' or 'coherence.{task}' "
        f"with task in {tasks}"
    )
    for name, value in losses.items():
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            got = (
                f"a tensor of shape {tuple(value.shape)}"
                if torch.is_tensor(value)
                else type(value).__name__
            )
            raise TypeError(f"Loss term {name!r} must be a scalar tensor, got {got}")
        value = value.reshape(())
        task, _, rest = name.partition(".")
        if task == COHERENCE_PREFIX:
            if rest not in tasks:
                raise KeyError(
                    f"Loss term {name!r} names an unknown task; expected {expected}"
                )
            coherence.append(value)
        elif task not in tasks:
            raise KeyError(
                f"Loss term {name!r} names an unknown task; expected {expected}"
            )
        elif rest == "loss":
            main[task] = value
        elif (
            rest.startswith("aux_") and rest.endswith(".loss") and rest.count(".") == 1
        ):
            aux[task].append(value)
        else:
            raise KeyError(f"Unexpected loss term {name!r}; expected {expected}")
    missing = [task for task in tasks if task not in main]
    if missing:
        raise KeyError(
            f"The losses have no main term for task(s) {missing}: expected "
            f"keys {[f'{task}.loss' for task in missing]}, got {list(losses)}"
        )
    return main, aux, coherence


class TaskLosses(dict):
    """A model's named loss terms plus which tasks the batch labelled.

    Returned by a model's ``loss`` so that ``parse_losses`` can hand
    ``labelled`` to :meth:`BaseWeighting.forward`; otherwise an ordinary
    dict of the terms.

    Args:
        terms (dict[str, Tensor]): The loss terms.
        labelled (dict[str, Tensor]): Per task, a 0-d bool tensor: whether
            the batch had any labelled pixel of the task.
    """

    def __init__(self, terms: Dict[str, torch.Tensor], labelled: Dict[str, Any]):
        super().__init__(terms)
        self.labelled = dict(labelled)
