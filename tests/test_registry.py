"""Importing mtcp registers every component into mmseg's registries."""

import importlib
import pkgutil

import pytest
from mmseg.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS, VISUALIZERS

import mtcp

EXPECTED = {
    MODELS: [
        "SharedMask2Former",
        "HierarchicalTaskDecoder",
        "PyramidFusion",
        "CBAM",
        "CoherenceFusionModule",
        "SpatialRefinementModule",
        "DensePredictionHead",
        "MTCP",
        "MultiTaskDataPreProcessor",
        "LPS",
        "FixedWeights",
        "UncertaintyWeighting",
        "DWA",
    ],
    DATASETS: ["NYUDv2MTDataset", "PascalContextMTDataset", "SyntheticScenesDataset"],
    TRANSFORMS: [
        "LoadMultiTaskAnnotations",
        "MultiTaskRandomResize",
        "MultiTaskResize",
        "MultiTaskRandomCrop",
        "MultiTaskRandomFlip",
        "MultiTaskPad",
        "PackMultiTaskInputs",
    ],
    METRICS: ["MultiTaskMetric"],
    HOOKS: ["TaskWeightingHook", "MultiTaskVisualizationHook"],
    VISUALIZERS: ["MultiTaskVisualizer"],
}


def test_every_subpackage_imports():
    names = [
        m.name
        for m in pkgutil.walk_packages(mtcp.__path__, prefix="mtcp.")
        if not m.name.split(".")[-1].startswith("_")
    ]
    assert "mtcp.models.layers" in names
    for name in names:
        importlib.import_module(name)


@pytest.mark.parametrize(
    "registry,name",
    [(registry, name) for registry, names in EXPECTED.items() for name in names],
    ids=lambda x: x if isinstance(x, str) else x.name,
)
def test_component_is_registered_in_mmseg(registry, name):
    cls = registry.get(name)
    assert cls is not None, f"{name} is not registered in mmseg {registry.name}"
    assert cls.__module__.startswith("mtcp."), cls.__module__


def test_registered_from_a_plain_mmseg_config():
    """`custom_imports` in a config is enough to reach our modules by name."""
    from mmengine.config import Config

    cfg = Config(
        dict(
            custom_imports=dict(imports=["mtcp"], allow_failed_imports=False),
            model=dict(type="CBAM", channels=16),
        )
    )
    from mmengine.utils import import_modules_from_strings

    import_modules_from_strings(**cfg.custom_imports)
    module = MODELS.build(cfg.model)
    assert type(module).__name__ == "CBAM"
