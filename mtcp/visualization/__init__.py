from .colorize import colorize_task
from .multitask_visualizer import MultiTaskVisualizer

__all__ = ["colorize_task", "MultiTaskVisualizer"]
