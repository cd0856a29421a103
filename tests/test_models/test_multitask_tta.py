import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.structures import PixelData
from mmseg.registry import MODELS, TRANSFORMS

import mtcp  # noqa: F401  (registers the modules)
from mtcp.structures import TASKS, MultiTaskDataSample
from mtcp.tasks import ClassMap, task_kind

CONFIG = osp.join(
    osp.dirname(__file__), "..", "..", "configs", "_base_", "models", "mtcp_tiny.py"
)
ALL_TASKS = ["semseg", "parts", "depth", "normals", "saliency", "edge"]
NUM_CLASSES = dict(semseg=4, parts=7)
# an odd size: the preprocessor pads it to 64 x 64, the flip moves the padding
H, W = 37, 45


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build_tta():
    torch.manual_seed(0)
    cfg = Config.fromfile(CONFIG)
    cfg.model.update(tasks=ALL_TASKS, num_classes=NUM_CLASSES)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return MODELS.build(dict(type="MultiTaskTTAModel", module=model)).eval()


def image(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def packed(img, flip):
    """``img`` through the tta pipeline's view: flipped or not, packed."""
    results = dict(img=img.copy(), img_shape=(H, W), ori_shape=(H, W), tasks=[])
    flip_cfg = dict(type="MultiTaskRandomFlip", prob=1.0 if flip else 0.0)
    results = TRANSFORMS.build(flip_cfg)(results)
    return TRANSFORMS.build(dict(type="PackMultiTaskInputs"))(results)


def predict64(tta, data):
    """The module's plain prediction of a packed batch, in float64."""
    module = tta.module
    data = module.data_preprocessor(pseudo_collate(data), False)
    with torch.no_grad():
        return module.predict(data["inputs"].double(), data["data_samples"])


def mirrored_back(sample, task):
    """The prediction of a mirrored image mapped back by hand."""
    field = TASKS[task].pred_field
    if task_kind(task).takes_classes:
        field = ClassMap.logits_field(TASKS[task])
    pred = getattr(sample, field).data.flip(-1)
    if task == "normals":
        pred = pred * torch.tensor([-1.0, 1.0, 1.0], dtype=pred.dtype).view(3, 1, 1)
    return pred


def test_merged_prediction_is_the_hand_average_of_image_and_mirror_float64():
    tta = build_tta().double()
    img = image()
    # plain predictions of the image and of its mirror as a new image
    plain, mirror = predict64(tta, [packed(img, False), packed(img[:, ::-1], False)])
    assert not mirror.metainfo.get("flip", False)
    # the tta views: the image and the image flipped by the pipeline
    views = predict64(tta, [packed(img, False), packed(img, True)])
    assert views[1].flip and views[1].flip_direction == "horizontal"
    (merged,) = tta.merge_preds([views])

    def close(actual, expected):
        assert actual.dtype == torch.float64
        torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)

    for task in ("depth", "saliency", "edge"):
        field = TASKS[task].pred_field
        mean = (getattr(plain, field).data + mirrored_back(mirror, task)) / 2
        close(getattr(merged, field).data, mean)
        assert getattr(merged, field).shape == (H, W)
    # normals: the mirror's x negated, the mean of the unit vectors renormalised
    mean = plain.pred_normals.data + mirrored_back(mirror, "normals")
    normals = merged.pred_normals.data
    close(normals, mean / mean.norm(dim=0, keepdim=True))
    close(normals.norm(dim=0), torch.ones(H, W, dtype=torch.float64))
    # class maps: the mean of the softmax probabilities, then the argmax
    for task in ("semseg", "parts"):
        logits_field = ClassMap.logits_field(TASKS[task])
        probs = (
            getattr(plain, logits_field).data.softmax(dim=0)
            + mirrored_back(mirror, task).softmax(dim=0)
        ) / 2
        close(getattr(merged, logits_field).data.softmax(dim=0), probs)
        pred = getattr(merged, TASKS[task].pred_field).data
        assert pred.dtype == torch.int64 and pred.shape == (1, H, W)
        assert torch.equal(pred, probs.argmax(dim=0, keepdim=True))
    # the two views disagree, so merging changed the plain prediction
    assert not torch.allclose(merged.pred_depth.data, plain.pred_depth.data)


def test_merged_sample_is_shaped_as_a_plain_prediction():
    tta = build_tta()
    img = image(1)
    data = [packed(img, False)]
    (plain,) = tta.module.test_step(pseudo_collate(data))
    # the collated tta batch: one list per view, as TestTimeAug makes it
    views = [packed(img, False), packed(img, True)]
    batch = dict(
        inputs=[[view["inputs"]] for view in views],
        data_samples=[[view["data_samples"]] for view in views],
    )
    with torch.no_grad():
        (merged,) = tta.test_step(batch)
    assert isinstance(merged, MultiTaskDataSample)
    assert sorted(merged.keys()) == sorted(plain.keys())
    for key in plain.keys():
        a, b = getattr(plain, key).data, getattr(merged, key).data
        assert (a.shape, a.dtype) == (b.shape, b.dtype), key
    assert not merged.flip and merged.ori_shape == (H, W)


def test_merge_errors_name_the_image():
    tta = build_tta()
    a = MultiTaskDataSample(metainfo=dict(img_path="a.png", ori_shape=(2, 3)))
    b = MultiTaskDataSample(metainfo=dict(img_path="a.png", ori_shape=(3, 3)))
    a.pred_depth = PixelData(data=torch.ones(1, 2, 3))
    with pytest.raises(ValueError, match="views of a.png have different ori_shape"):
        tta.merge_preds([[a, b]])
    b.set_metainfo(dict(ori_shape=(2, 3)))
    with pytest.raises(KeyError, match="view 1 of a.png has no 'pred_depth'"):
        tta.merge_preds([[a, b]])
    # a class map needs the logits the class head stores with its prediction
    a.pred_sem_seg = PixelData(data=torch.zeros(1, 2, 3, dtype=torch.long))
    b.pred_depth = PixelData(data=torch.ones(1, 2, 3))
    b.pred_sem_seg = PixelData(data=torch.zeros(1, 2, 3, dtype=torch.long))
    with pytest.raises(KeyError, match="view 0 of a.png has no 'sem_seg_logits'"):
        tta.merge_preds([[a, b]])


def test_merge_views_by_hand():
    def views(task, *maps):
        out = []
        for data in maps:
            sample = MultiTaskDataSample(metainfo=dict(ori_shape=(1, 1)))
            setattr(sample, TASKS[task].pred_field, PixelData(data=data))
            out.append(sample)
        return out

    one = torch.ones(1, 1, 1)
    depth = task_kind("depth").merge_views(
        views("depth", 1.0 * one, 2.0 * one), TASKS["depth"]
    )
    assert depth["pred_depth"].item() == 1.5
    a = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    b = torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1)
    normals = task_kind("normals").merge_views(
        views("normals", a, b), TASKS["normals"]
    )["pred_normals"]
    torch.testing.assert_close(normals.flatten(), torch.tensor([1.0, 1.0, 0]) / 2**0.5)
    logits = [torch.tensor([0.0, 10.0]).view(2, 1, 1), torch.tensor([0.0, -1.0])]
    samples = views("semseg", one.long(), one.long() * 0)
    for sample, data in zip(samples, logits):
        sample.sem_seg_logits = PixelData(data=data.view(2, 1, 1))
    merged = task_kind("semseg").merge_views(samples, TASKS["semseg"])
    probs = (F.softmax(logits[0].flatten(), 0) + F.softmax(logits[1], 0)) / 2
    torch.testing.assert_close(merged["sem_seg_logits"].flatten(), probs.log())
    assert merged["pred_sem_seg"].item() == 1
