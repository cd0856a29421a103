import copy
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmseg.registry import MODELS

import mtcp  # noqa: F401  (registers the modules)
from mtcp.models.segmentors import MultiTaskDataPreProcessor
from mtcp.structures import TASKS, MultiTaskDataSample
from mtcp.tasks import task_kind

CONFIG = osp.join(
    osp.dirname(__file__), "..", "..", "configs", "_base_", "models", "mtcp_tiny.py"
)
TASKS3 = ["semseg", "depth", "normals"]
NUM_CLASSES = dict(semseg=4, parts=7)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Two shared CPU cores: intra-op threads only add contention at these sizes.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({f"model.{k}": v for k, v in overrides.items()})
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def scene(index, h=64, w=64):
    """A plane split into two regions: colour and class per region, depth
    linear along the split axis, one constant normal per region."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    coord = xs if index % 2 == 0 else ys
    region = (coord >= (w if index % 2 == 0 else h) // 2).long()
    img = torch.where(region.bool(), 200, 40).to(torch.uint8).expand(3, h, w).clone()
    img[index % 3] = 120
    classes = region + 2 * (index % 2)
    depth = 1.0 + 3.0 * coord.float() / coord.max()
    normal_a = torch.tensor([0.0, 0.0, 1.0])
    normal_b = torch.tensor([0.6, 0.0, 0.8])
    normals = torch.where(
        region.bool()[None], normal_b[:, None, None], normal_a[:, None, None]
    )
    labels = dict(
        semseg=classes[None],
        parts=region[None],
        depth=depth[None],
        normals=normals,
        saliency=region[None],
        edge=(coord == coord.max() // 2).long()[None],
    )
    return img, labels


def make_batch(tasks, n=2, h=64, w=64, meta=None):
    inputs, samples = [], []
    for i in range(n):
        img, labels = scene(i, h, w)
        sample = MultiTaskDataSample(
            metainfo=dict(ori_shape=(h, w), img_shape=(h, w), **(meta or {}))
        )
        for t in tasks:
            setattr(sample, TASKS[t].gt_field, PixelData(data=labels[t]))
        inputs.append(img)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def expected_keys(tasks, srm=True, cfm=True):
    keys = {f"{t}.loss" for t in tasks}
    if srm:
        keys |= {f"{t}.{a}.loss" for t in tasks for a in ("aux_16", "aux_8")}
    if cfm:
        keys |= {f"coherence.{t}" for t in tasks}
    return keys


# ---------------------------------------------------------------- preprocessor


def test_preprocessor_normalises_and_converts_bgr():
    pre = MultiTaskDataPreProcessor(
        mean=[10.0, 20.0, 30.0], std=[1.0, 2.0, 5.0], bgr_to_rgb=True, size_divisor=None
    )
    img = torch.stack([torch.full((2, 3), v) for v in (50, 60, 70)]).to(torch.uint8)
    out = pre(dict(inputs=[img]))
    assert out["data_samples"] is None
    # BGR (50, 60, 70) -> RGB (70, 60, 50), then (v - mean) / std.
    expected = torch.tensor([(70 - 10) / 1.0, (60 - 20) / 2.0, (50 - 30) / 5.0])
    assert out["inputs"].shape == (1, 3, 2, 3)
    torch.testing.assert_close(out["inputs"][0, :, 0, 0], expected)


def test_preprocessor_pads_images_and_every_task_with_its_value():
    pre = MultiTaskDataPreProcessor(mean=[0.0] * 3, std=[1.0] * 3, pad_val=0)
    data = make_batch(list(TASKS), n=2, h=20, w=30)
    data["inputs"][1] = data["inputs"][1][:, :18, :25]
    for t in TASKS:
        sample = data["data_samples"][1]
        sample.set_gt(t, PixelData(data=sample.get_gt(t).data[:, :18, :25]))
    out = pre(data, training=True)
    assert out["inputs"].shape == (2, 3, 32, 32)  # size_divisor 32 by default
    assert (out["inputs"][0, :, 20:] == 0).all() and (
        out["inputs"][1, :, :, 25:] == 0
    ).all()
    for sample, (h, w) in zip(out["data_samples"], [(20, 30), (18, 25)]):
        assert sample.batch_input_shape == (32, 32) and sample.pad_shape == (32, 32)
        for t, info in TASKS.items():
            label = sample.get_gt(t).data
            assert label.shape[-2:] == (32, 32)
            pad = task_kind(t).pad_value
            assert (label[:, h:] == pad).all(), t
            assert (label[:, :, w:] == pad).all(), t
            assert (label[:, :h, :w] != pad).any(), t
    # A fixed size, then the divisor.
    out = MultiTaskDataPreProcessor(size=(40, 33), size_divisor=8)(
        make_batch(["depth"], 1, 20, 30)
    )
    assert out["inputs"].shape[-2:] == (40, 40)


def test_preprocessor_rejects_bad_config_and_inputs():
    with pytest.raises(ValueError, match="both `mean` and `std`"):
        MultiTaskDataPreProcessor(mean=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="size_divisor"):
        MultiTaskDataPreProcessor(size_divisor=0)
    with pytest.raises(ValueError, match="larger than the padding size"):
        MultiTaskDataPreProcessor(size=(16, 16))(make_batch(["depth"], 1, 20, 30))
    data = make_batch(["depth"], 1, 20, 30)
    data["data_samples"][0].gt_depth = PixelData(data=torch.ones(1, 10, 10))
    with pytest.raises(ValueError, match=r"gt_depth \(depth\) has size \(10, 10\)"):
        MultiTaskDataPreProcessor()(data, training=True)
    with pytest.raises(ValueError, match="training needs data samples"):
        MultiTaskDataPreProcessor()(dict(inputs=data["inputs"]), training=True)


def test_preprocessor_leaves_labels_alone_at_test_time():
    """A test batch of two sizes: images padded to one shape, labels kept as
    the pipeline left them (one at a different original size)."""
    pre = MultiTaskDataPreProcessor(size_divisor=32)
    data = make_batch(list(TASKS), n=2, h=61, w=83)
    data["inputs"][1] = data["inputs"][1][:, :40, :50]
    small = data["data_samples"][1]
    for t in TASKS:
        small.set_gt(t, PixelData(data=small.get_gt(t).data[:, :30, :70]))
    before = [
        {t: s.get_gt(t).data.clone() for t in TASKS} for s in data["data_samples"]
    ]
    out = pre(data, training=False)
    assert out["inputs"].shape == (2, 3, 64, 96)
    for sample, labels in zip(out["data_samples"], before):
        assert sample.batch_input_shape == (64, 96) and sample.pad_shape == (64, 96)
        for t in TASKS:
            assert torch.equal(sample.get_gt(t).data, labels[t]), t
    assert out["data_samples"][1].gt_depth.shape == (30, 70)


@MODELS.register_module(force=True)
class _ShiftBatch(torch.nn.Module):
    """A batch augment for the test: adds ``value`` to the inputs."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, inputs, data_samples):
        return inputs + self.value, data_samples


def test_preprocessor_batch_augments_run_in_training_only():
    pre = MultiTaskDataPreProcessor(
        size_divisor=None, batch_augments=[dict(type="_ShiftBatch", value=1000.0)]
    )
    train = pre(make_batch(["depth"], 1, 8, 8), training=True)["inputs"]
    test = pre(make_batch(["depth"], 1, 8, 8), training=False)["inputs"]
    torch.testing.assert_close(train, test + 1000.0)


# ------------------------------------------------------------------- the model


def test_loss_keys_three_tasks_and_parse_losses():
    model = build()
    data = model.data_preprocessor(make_batch(TASKS3), True)
    losses = model(**data, mode="loss")
    assert set(losses) == expected_keys(TASKS3)
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    total, log_vars = model.parse_losses(losses)
    # The coherence terms are included (mmengine's default would drop names
    # without "loss").
    torch.testing.assert_close(total, sum(losses.values()))
    assert set(log_vars) == set(losses) | {"loss"}
    assert not any(v.requires_grad for v in log_vars.values())
    out = model(data["inputs"], mode="tensor")
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "semseg": (2, 4, 16, 16),
        "depth": (2, 1, 16, 16),
        "normals": (2, 3, 16, 16),
    }


def test_coherence_weight_scales_the_coherence_terms():
    model = build(cfm=dict(coherence_weight=0.5)).eval()
    data = model.data_preprocessor(make_batch(TASKS3), True)
    losses = model.loss(data["inputs"], data["data_samples"])
    _, raw = model.cfms["depth"](*_fused(model, data["inputs"], "depth"))
    torch.testing.assert_close(losses["coherence.depth"], 0.5 * raw)


def _fused(model, inputs, task):
    shared = model.backbone(inputs)
    fused = {t: model.decoders[t](shared)[1] for t in model.tasks}
    return fused[task], [fused[j] for j in model.tasks if j != task]


def test_single_task_and_no_srm_variants():
    model = build(tasks=["depth"])
    assert not model.use_cfm and not hasattr(model, "cfms")
    data = model.data_preprocessor(make_batch(["depth"]), True)
    assert set(model(**data, mode="loss")) == expected_keys(["depth"], cfm=False)

    model = build(use_srm=False)
    assert not hasattr(model, "srms") and set(model.heads["semseg"].levels) == {"final"}
    data = model.data_preprocessor(make_batch(TASKS3), True)
    assert set(model(**data, mode="loss")) == expected_keys(TASKS3, srm=False)

    model = build(use_cfm=False, use_srm=False)
    assert set(model(**data, mode="loss")) == expected_keys(TASKS3, False, False)


def test_weighting_is_built_with_the_tasks():
    model = build(weighting=dict(type="LPS"))
    assert model.weighting.tasks == TASKS3
    data = model.data_preprocessor(make_batch(TASKS3), True)
    total, log_vars = model.parse_losses(model(**data, mode="loss"))
    assert total.requires_grad and "loss" in log_vars and "weight.depth" in log_vars


def test_bad_configs_raise_clear_errors():
    with pytest.raises(KeyError, match="Unknown task 'semantic'"):
        build(tasks=["semantic", "depth"])
    with pytest.raises(ValueError, match="give their number in num_classes"):
        build(tasks=["parts", "depth"], num_classes=dict(semseg=4))
    with pytest.raises(
        ValueError, match="'depth', whose kind Depth does not predict classes"
    ):
        build(num_classes=dict(semseg=4, depth=1))
    with pytest.raises(ValueError, match="not among the model's tasks"):
        build(losses=dict(parts=dict(type="TaskCrossEntropyLoss")))
    with pytest.raises(ValueError, match="coherence_weight must be >= 0"):
        build(cfm=dict(coherence_weight=-1.0))
    model = build()
    data = model.data_preprocessor(make_batch(["semseg", "depth"]), True)
    with pytest.raises(
        ValueError, match="sample 0 has no gt_normals for task 'normals'"
    ):
        model(**data, mode="loss")


ALL_TASKS = ["semseg", "parts", "depth", "normals", "saliency", "edge"]


def test_predict_at_original_size_with_types_and_ranges():
    model = build(tasks=ALL_TASKS, num_classes=NUM_CLASSES).eval()
    # A 100x80 image resized to 50x40 by the pipeline, padded to 64x64.
    data = make_batch([], n=2, h=50, w=40)
    for s in data["data_samples"]:
        s.set_metainfo(dict(ori_shape=(100, 80)))
    data = model.data_preprocessor(data, False)
    assert data["inputs"].shape[-2:] == (64, 64)
    with torch.no_grad():
        samples = model(**data, mode="predict")
    for s in samples:
        for t in ALL_TASKS:
            pred = s.get_pred(t).data
            assert pred.shape == (task_kind(t).label_channels(TASKS[t]), 100, 80), t
        for t in ("semseg", "parts"):
            pred = s.get_pred(t).data
            assert pred.dtype == torch.int64
            assert pred.min() >= 0 and pred.max() < NUM_CLASSES[t]
            # the logits on the original image, kept for test-time augmentation
            logits = getattr(s, f"{TASKS[t].field}_logits").data
            assert logits.shape == (NUM_CLASSES[t], 100, 80)
            assert torch.equal(logits.argmax(dim=0, keepdim=True), pred)
        assert s.pred_depth.data.dtype == torch.float32 and s.pred_depth.data.min() >= 0
        norm = s.pred_normals.data.norm(dim=0)
        torch.testing.assert_close(norm, torch.ones_like(norm))
        for t in ("saliency", "edge"):
            pred = s.get_pred(t).data
            assert pred.dtype == torch.float32 and pred.min() >= 0 and pred.max() <= 1
    # Without data samples, the input is its own original image.
    with torch.no_grad():
        samples = model.predict(data["inputs"][:1])
    assert samples[0].pred_depth.shape == (64, 64)


def test_predict_crops_padding_before_resizing():
    model = build().eval()
    data = model.data_preprocessor(make_batch([], n=1, h=50, w=40), False)
    with torch.no_grad():
        raw = model(data["inputs"], mode="tensor")["depth"]
        pred = model(**data, mode="predict")[0].pred_depth.data
    full = torch.nn.functional.interpolate(raw, size=(64, 64), mode="bilinear")
    torch.testing.assert_close(pred[0], full[0, 0, :50, :40].clamp(min=0))


def test_predict_undoes_a_recorded_flip():
    model = build().eval()
    plain = model.data_preprocessor(make_batch([], n=1), False)
    flipped = model.data_preprocessor(
        make_batch([], n=1, meta=dict(flip=True, flip_direction="horizontal")), False
    )
    with torch.no_grad():
        a = model(**plain, mode="predict")[0]
        b = model(**flipped, mode="predict")[0]
    torch.testing.assert_close(b.pred_depth.data, a.pred_depth.data.flip(-1))
    assert torch.equal(b.pred_sem_seg.data, a.pred_sem_seg.data.flip(-1))
    torch.testing.assert_close(b.sem_seg_logits.data, a.sem_seg_logits.data.flip(-1))
    sign = torch.tensor([-1.0, 1.0, 1.0]).view(3, 1, 1)
    torch.testing.assert_close(b.pred_normals.data, a.pred_normals.data.flip(-1) * sign)


def test_all_ignore_batch_gives_zero_task_losses_and_gradients():
    model = build()
    data = make_batch(TASKS3)
    for s in data["data_samples"]:
        s.gt_sem_seg.data.fill_(255)
        s.gt_depth.data.zero_()
        s.gt_normals.data.zero_()
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode="loss")
    task_terms = [v for k, v in losses.items() if not k.startswith("coherence.")]
    assert all(torch.isfinite(v) and v.item() == 0.0 for v in task_terms)
    sum(task_terms).backward()
    for name, p in model.named_parameters():
        assert p.grad is None or (p.grad == 0).all(), name
    assert all(torch.isfinite(v) for v in losses.values())


def test_gradient_reaches_every_trainable_parameter():
    model = build()
    data = model.data_preprocessor(make_batch(TASKS3), True)
    total, _ = model.parse_losses(model(**data, mode="loss"))
    total.backward()
    missing = [
        n for n, p in model.named_parameters() if p.requires_grad and p.grad is None
    ]
    assert not missing
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert all(n.startswith("backbone.decode_head.cls_embed") for n in frozen)


def test_overfit_tiny_model():
    model = build()
    optim = OptimWrapper(
        torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    )
    batch = make_batch(TASKS3, n=2)
    history = []
    for _ in range(40):
        log_vars = model.train_step(copy.deepcopy(batch), optim)
        history.append({t: log_vars[f"{t}.loss"].item() for t in TASKS3})
    for t in TASKS3:
        first, last = history[0][t], min(h[t] for h in history[-3:])
        assert math.isfinite(last) and last < 0.5 * first, (t, first, last)


def test_head_bias_init_reaches_the_task_heads_only():
    cfg = Config.fromfile(CONFIG).model
    cfg.head_bias_init = dict(depth=3.0, saliency=1.0)  # saliency: not a task here
    model = MODELS.build(cfg)
    for head in model.heads["depth"].levels.values():
        assert torch.all(head.cls.bias == 3.0)
    assert not torch.all(model.heads["semseg"].final.cls.bias == 3.0)
    cfg.head_bias_init = dict(height=1.0)
    with pytest.raises(ValueError, match="unknown task 'height'"):
        MODELS.build(cfg)
