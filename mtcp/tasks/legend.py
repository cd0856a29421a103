"""How to read a coloured map: the legend a task's kind gives for a panel."""

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

RGB = Tuple[int, int, int]


@dataclass
class Legend:
    """Named colour swatches (the classes of a class map) and/or a colour
    ramp with tick labels (a continuous quantity such as depth in metres).

    Attributes:
        swatches (Sequence[tuple[str, RGB]]): ``(name, colour)`` pairs, most
            important first.
        ramp (np.ndarray, optional): (N, 3) uint8 RGB colours, from the low
            end of the scale to the high end.
        ticks (Sequence[tuple[float, str]]): ``(position, text)`` on the
            ramp, the position in [0, 1] (0: low end).
    """

    swatches: Sequence[Tuple[str, RGB]] = ()
    ramp: Optional[np.ndarray] = None
    ticks: Sequence[Tuple[float, str]] = ()

    @property
    def texts(self) -> list:
        """Every text the legend shows: swatch names, then tick labels."""
        return [name for name, _ in self.swatches] + [text for _, text in self.ticks]


def ramp_legend(
    colours: np.ndarray, low: float, high: float, fmt: str = "{:.3g}"
) -> Legend:
    """A colour bar from ``low`` to ``high``: ``colours`` (1, N, 3) or (N, 3)
    as a kind's ``colorize`` draws ``N`` evenly spaced values, with ticks at
    both ends and in the middle, each value written with ``fmt``."""
    ticks = [(pos, fmt.format(low + pos * (high - low))) for pos in (0.0, 0.5, 1.0)]
    return Legend(ramp=np.asarray(colours, dtype=np.uint8).reshape(-1, 3), ticks=ticks)
