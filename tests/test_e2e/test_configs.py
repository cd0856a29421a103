"""Every shipped config builds its model and its datasets, with the real
datasets pointed at fake data written in the exact on-disk layouts."""

from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmseg.registry import DATASETS, MODELS
from tool_loader import load_tool

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    str(p.relative_to(REPO / "configs"))
    for p in (REPO / "configs").rglob("*.py")
    if "_base_" not in p.parts
)
LAYOUTS = dict(
    NYUDv2MTDataset="nyud",
    PascalContextMTDataset="pascal",
    CityscapesMTDataset="cityscapes",
    MultiTaskFolderDataset="folder",
)


@pytest.fixture(scope="module")
def fake_roots(tmp_path_factory):
    make = load_tool("dataset_converters/make_fake_dataset.py")
    roots = {}
    for dataset_type, layout in LAYOUTS.items():
        root = tmp_path_factory.mktemp(layout)
        make.make_fake_dataset(
            str(root), layout, num_train=2, num_val=2, img_size=(60, 80)
        )
        roots[dataset_type] = str(root)
    return roots


def test_every_config_is_covered():
    assert "mtcp_demo.py" in CONFIGS and "mtcp_nyud.py" in CONFIGS
    assert len(CONFIGS) >= 19


@pytest.mark.parametrize("name", CONFIGS)
def test_config_builds_model_and_datasets(name, fake_roots):
    cfg = Config.fromfile(str(REPO / "configs" / name))
    model = MODELS.build(cfg.model)
    for split in ("train_dataloader", "val_dataloader"):
        dataset_cfg = cfg[split].dataset
        if dataset_cfg.type in fake_roots:
            dataset_cfg.data_root = fake_roots[dataset_cfg.type]
        if dataset_cfg.type == "SyntheticScenesDataset":
            dataset_cfg.num_samples = 2
        dataset = DATASETS.build(dataset_cfg)
        packed = dataset[0]
        sample = packed["data_samples"]
        if cfg.model.type != "MTCP":
            assert sample.has_gt("semseg")
            continue
        # the model, the data and the metric agree on the tasks
        assert dataset.tasks == model.tasks, (split, dataset.tasks, model.tasks)
        for task in model.tasks:
            assert sample.has_gt(task), (split, task)
            if task in ("semseg", "parts"):
                key = "classes" if task == "semseg" else "part_classes"
                assert model.out_channels[task] == len(dataset.metainfo[key])
        if split == "train_dataloader":
            # training crops are padded to one size
            for task in model.tasks:
                assert packed["inputs"].shape[-2:] == sample.get_gt(task).shape
    if cfg.model.type == "MTCP":
        assert cfg.val_evaluator.type == "MultiTaskMetric"
        assert list(cfg.val_evaluator.tasks) == model.tasks
    check_tta(cfg, model, fake_roots)


def check_tta(cfg, model, fake_roots):
    """``--tta``: the tta model wraps the model; the tta pipeline gives the
    image and its mirror with the plain test pipeline's (un-flipped) labels."""
    tta = MODELS.build(dict(**cfg.tta_model, module=model))
    dataset_cfg = cfg.test_dataloader.dataset
    if dataset_cfg.type in fake_roots:
        dataset_cfg.data_root = fake_roots[dataset_cfg.type]
    if dataset_cfg.type == "SyntheticScenesDataset":
        dataset_cfg.num_samples = 1
    plain = DATASETS.build(dataset_cfg)[0]
    views = DATASETS.build(dict(dataset_cfg, pipeline=cfg.tta_pipeline))[0]
    assert [s.flip for s in views["data_samples"]] == [False, True]
    assert torch.equal(views["inputs"][0], plain["inputs"])
    assert torch.equal(views["inputs"][1], plain["inputs"].flip(-1))
    gt_fields = [key for key in plain["data_samples"].keys() if key.startswith("gt_")]
    assert gt_fields
    for view in views["data_samples"]:
        for key in gt_fields:
            assert torch.equal(
                getattr(view, key).data, getattr(plain["data_samples"], key).data
            ), key
    if cfg.model.type != "MTCP":
        # mmseg's SegTTAModel runs on the views of the tiny mmseg model
        with torch.no_grad():
            (merged,) = tta.eval().test_step(pseudo_collate([views]))
        assert merged.pred_sem_seg.shape == plain["inputs"].shape[-2:]


@pytest.mark.parametrize("name", ["mtcp_nyud.py", "mtcp_pascal.py"])
def test_missing_backbone_checkpoint_says_where_to_get_it(name):
    cfg = Config.fromfile(str(REPO / "configs" / name))
    cfg.model.backbone.init_cfg.checkpoint = "no/such/mask2former.pth"
    model = MODELS.build(cfg.model)
    with pytest.raises(FileNotFoundError, match="download.openmmlab.com"):
        model.init_weights()
