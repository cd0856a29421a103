"""Test-only: a training batch made of NaN, for the end-to-end tests.

Imported by the training processes of ``test_cluster_faults.py`` through
``custom_imports`` (this directory is then on PYTHONPATH).
"""

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mtcp.utils.strict_loading import unwrap_model


@HOOKS.register_module()
class NaNBatchHook(Hook):
    """Makes the normalised images of training iteration ``iteration``
    (1-based) NaN, as a corrupt batch would: every loss term is NaN."""

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration
        self._handle = None

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 != self.iteration:
            return

        def poison(module, args, output):
            output["inputs"].fill_(float("nan"))
            return output

        preprocessor = unwrap_model(runner.model).data_preprocessor
        self._handle = preprocessor.register_forward_hook(poison)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
