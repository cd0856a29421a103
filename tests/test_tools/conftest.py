import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO / "tools"
HERE = Path(__file__).resolve().parent

# tools/test.py imports its helpers from tools/train.py as a sibling module,
# as it does when run as a script; the toy modules are imported by name.
for path in (TOOLS_DIR, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


TOY_CONFIG = """
_base_ = [{runtime!r}, {schedule!r}]
custom_imports = dict(imports=["mtcp", "toy_modules"], allow_failed_imports=False)
model = dict(
    type="ToyMultiTaskModel",
    data_preprocessor=dict(type="MultiTaskDataPreProcessor", size_divisor=8),
)
_pipeline = [dict(type="PackMultiTaskInputs")]
tta_pipeline = [
    dict(
        type="TestTimeAug",
        transforms=[
            [
                dict(type="MultiTaskRandomFlip", prob=0.0),
                dict(type="MultiTaskRandomFlip", prob=1.0),
            ],
            [dict(type="PackMultiTaskInputs")],
        ],
    )
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(type="ToyMultiTaskDataset", num_samples=8, pipeline=_pipeline),
)
test_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(type="ToyMultiTaskDataset", num_samples=4, pipeline=_pipeline),
)
test_evaluator = dict(type="MultiTaskMetric", tasks=["semseg", "depth"])
train_cfg = dict(max_epochs=2, val_interval=100)
val_dataloader = None
val_cfg = None
val_evaluator = None
param_scheduler = [dict(type="PolyLR", power=0.9, begin=0, end=2, by_epoch=True)]
default_hooks = dict(logger=dict(interval=1))
"""


@pytest.fixture
def toy_config(tmp_path) -> Path:
    """A runnable config on the toy model and dataset, using our _base_ files."""
    path = tmp_path / "toy_config.py"
    path.write_text(
        TOY_CONFIG.format(
            runtime=str(REPO / "configs/_base_/default_runtime.py"),
            schedule=str(REPO / "configs/_base_/schedules/schedule_100e.py"),
        )
    )
    return path
