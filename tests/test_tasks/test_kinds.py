"""What each task kind does with labels and predictions, by hand."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import mtcp  # noqa: F401  (registers the modules)
from mtcp.structures import TASKS
from mtcp.tasks import task_kind


def meta(size, flip=False, direction="horizontal"):
    return dict(
        batch_input_shape=size,
        img_shape=size,
        ori_shape=size,
        flip=flip,
        flip_direction=direction,
    )


def predict(task, raw, m):
    """What a head makes of one raw output: restore, then the fields."""
    kind = task_kind(task)
    return kind.predictions(kind.restore(raw, m), TASKS[task])


def png_bytes(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_every_builtin_task_has_its_kind():
    kinds = {task: type(task_kind(task)).__name__ for task in TASKS}
    assert kinds == dict(
        semseg="ClassMap",
        parts="HumanParts",
        depth="Depth",
        normals="Normals",
        saliency="BinaryMap",
        edge="Boundary",
    )
    assert [task_kind("normals").channels, task_kind("depth").channels] == [3, 1]
    assert task_kind("semseg").takes_classes and not task_kind("depth").takes_classes


def test_activations_by_hand():
    raw = torch.tensor([[[[1.0, -2.0]], [[3.0, -1.0]]]])  # (1, 2, 1, 2)
    classes = predict("semseg", raw, meta((1, 2)))["pred_sem_seg"]
    assert classes.tolist() == [[[1, 1]]] and classes.dtype == torch.int64
    depth = predict("depth", raw[:, :1], meta((1, 2)))["pred_depth"]
    assert depth.tolist() == [[[1.0, 0.0]]]
    prob = predict("saliency", raw[:, :1], meta((1, 2)))["pred_saliency"]
    torch.testing.assert_close(prob, torch.sigmoid(raw[0, :1]))
    vec = torch.tensor([3.0, 0.0, 4.0]).view(1, 3, 1, 1).expand(1, 3, 1, 2)
    normals = predict("normals", vec, meta((1, 2)))["pred_normals"]
    torch.testing.assert_close(normals[:, 0, 0], torch.tensor([0.6, 0.0, 0.8]))
    # batched activation, as an exported graph uses it
    batch = torch.randn(3, 2, 4, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        task_kind("semseg").activate(batch), batch.argmax(1, keepdim=True)
    )


def test_restore_crops_padding_resizes_and_undoes_flips():
    raw = torch.randn(1, 3, 4, 6, generator=torch.Generator().manual_seed(0))
    m = dict(batch_input_shape=(4, 6), img_shape=(4, 4), ori_shape=(8, 8))
    out = predict("normals", raw, m)["pred_normals"]
    want = F.interpolate(raw[..., :4], size=(8, 8), mode="bilinear")
    torch.testing.assert_close(out, F.normalize(want[0], dim=0))
    # Horizontal flip: mirrored columns, x negated; vertical: rows, y negated.
    plain = predict("normals", raw, meta((4, 6)))["pred_normals"]
    hflip = predict("normals", raw, meta((4, 6), True))["pred_normals"]
    sign = torch.tensor([-1.0, 1.0, 1.0]).view(3, 1, 1)
    torch.testing.assert_close(hflip, plain.flip(-1) * sign)
    vflip = predict("normals", raw, meta((4, 6), True, "vertical"))["pred_normals"]
    torch.testing.assert_close(vflip, plain.flip(-2) * sign[[1, 0, 2]])
    depth = predict("depth", raw[:, :1], meta((4, 6), True))["pred_depth"]
    torch.testing.assert_close(depth, raw[0, :1].flip(-1).clamp(min=0))
    with pytest.raises(ValueError, match="cannot undo flip_direction 'diagonal'"):
        predict("depth", raw[:, :1], meta((4, 6), True, "diagonal"))


def test_depth_of_a_resized_test_image_is_scaled_back():
    """MultiTaskResize divides depth labels by s = sqrt(w_scale * h_scale); a
    prediction on an image resized by s is multiplied by s on the way back."""
    raw = torch.rand(1, 1, 4, 6, generator=torch.Generator().manual_seed(0)) + 1
    m = dict(meta((4, 6)), ori_shape=(2, 3), scale_factor=(2.0, 2.0))
    depth = predict("depth", raw, m)["pred_depth"]
    want = F.interpolate(raw, size=(2, 3), mode="bilinear")[0] * 2.0
    torch.testing.assert_close(depth, want)
    m["scale_factor"] = (0.5, 2.0)
    torch.testing.assert_close(predict("depth", raw, m)["pred_depth"], want / 2)
    # other kinds keep their values
    probs = predict("saliency", raw, m)["pred_saliency"]
    torch.testing.assert_close(probs, want.div(2).sigmoid())


def test_labelled_masks_per_kind():
    normals = torch.zeros(1, 3, 2, 2)
    normals[0, 2, 0, 0] = 1.0
    assert task_kind("normals").labelled(normals).tolist() == [
        [[[True, False], [False, False]]]
    ]
    binary = torch.tensor([[[[0, 255], [1, 0]]]])
    assert task_kind("saliency").labelled(binary).sum() == 3
    depth = torch.tensor([[[[0.0, 2.0], [0.5, 0.0]]]])
    assert task_kind("depth").labelled(depth).sum() == 2


@pytest.mark.parametrize("task", sorted(TASKS))
def test_random_label_is_fully_labelled_and_valid(task):
    kind = task_kind(task)
    label = kind.random_label(5, (6, 7), torch.Generator().manual_seed(0))
    assert label.shape == (kind.label_channels(TASKS[task]), 6, 7)
    assert bool(kind.labelled(label[None]).all())
    if kind.takes_classes:
        assert label.dtype == torch.int64 and 0 <= label.min() and label.max() < 5
    again = kind.random_label(5, (6, 7), torch.Generator().manual_seed(0))
    assert torch.equal(label, again)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_random_prediction_has_the_layout_of_a_prediction(task):
    kind = task_kind(task)
    pred = kind.random_prediction(5, (6, 7), torch.Generator().manual_seed(0))
    channels = kind.num_outputs(TASKS[task], 5)
    logits = torch.randn(1, channels, 6, 7, generator=torch.Generator().manual_seed(1))
    expected = predict(task, logits, meta((6, 7)))[TASKS[task].pred_field]
    assert pred.shape == expected.shape and pred.dtype == expected.dtype


def test_class_map_decoding_conventions():
    kind = task_kind("semseg")
    stored = np.array([[0, 1, 40, 255]], dtype=np.uint8)
    plain = kind.decode(png_bytes(stored), "a.png", dict(num_classes=256 - 1))
    np.testing.assert_array_equal(plain, stored)
    # NYUD: 0 unlabelled -> 255, 1..40 -> 0..39
    reduced = kind.decode(
        png_bytes(stored[:, :3]), "a.png", dict(reduce_zero_label=True, num_classes=40)
    )
    np.testing.assert_array_equal(reduced, [[255, 0, 39]])
    with pytest.raises(
        ValueError, match=r"a.png: semseg label values \[40\] out of range"
    ):
        kind.decode(
            png_bytes(stored[:, :3]), "a.png", dict(num_classes=40, task="semseg")
        )
    # the folder dataset's ignore_index becomes a lookup table
    options = kind.check_label_options(dict(ignore_index=0), ".png", "here")
    lut = kind.decode(png_bytes(stored[:, :2]), "a.png", options)
    np.testing.assert_array_equal(lut, [[255, 1]])
    with pytest.raises(ValueError, match=r"x.npy: a ClassMap label cannot be read"):
        kind.decode(b"", "x.npy", {})


def test_depth_decoding_and_plausibility():
    kind = task_kind("depth")
    mm = np.array([[0, 1500]], dtype=np.uint16)
    buf = io.BytesIO()
    Image.fromarray(mm).save(buf, format="PNG")
    depth = kind.decode(buf.getvalue(), "d.png", dict(scale=1000.0))
    np.testing.assert_allclose(depth, [[0.0, 1.5]])
    with pytest.raises(ValueError, match="needs `scale`"):
        kind.decode(buf.getvalue(), "d.png", {})
    with pytest.raises(ValueError, match="needs `scale` > 0"):
        kind.check_label_options({}, ".png", "task_folders['depth']")
    assert kind.plausibility(np.array([[0.0, 3.0]]), "nyud") == []
    (warning,) = kind.plausibility(np.array([[0.0, 3000.0]]), "nyud")
    assert "millimetres would be 1000 times larger" in warning
    assert kind.plausibility(np.zeros((2, 2)), None) == ["no valid (> 0) pixel"]


def test_label_transforms_per_kind():
    normals = np.zeros((2, 2, 3), np.float32)
    normals[0, 0] = [0.6, 0.0, 0.8]
    flipped = task_kind("normals").flip_label(normals, "horizontal")
    np.testing.assert_allclose(flipped[0, 1], [-0.6, 0.0, 0.8])
    assert flipped[0, 0].tolist() == [0, 0, 0]
    depth = np.full((2, 2), 3.0, np.float32)
    resized = task_kind("depth").resize_label(depth, (4, 4), 2.0)
    assert resized.shape == (4, 4) and np.allclose(resized, 1.5)
    long = np.array([[1.0, 1.0, 0.0]], np.float32).reshape(1, 1, 3)
    renorm = task_kind("normals").resize_label(np.repeat(long, 2, 1), (4, 1), 2.0)
    np.testing.assert_allclose(np.linalg.norm(renorm, axis=-1), 1.0, rtol=1e-6)


def test_missing_labels_are_all_ignore():
    assert task_kind("normals").missing_label((2, 3), TASKS["normals"]).shape == (
        2,
        3,
        3,
    )
    assert (task_kind("depth").missing_label((2, 3), TASKS["depth"]) == 0).all()
    semseg = task_kind("semseg").missing_label((2, 3), TASKS["semseg"])
    assert semseg.dtype == np.uint8 and (semseg == 255).all()


@pytest.mark.parametrize(
    "task, suffix",
    [
        ("semseg", ".png"),
        ("depth", ".npy"),
        ("depth", ".png"),
        ("normals", ".npy"),
        ("normals", ".png"),
        ("saliency", ".png"),
        ("edge", ".npy"),
    ],
)
def test_encoded_labels_decode_back(tmp_path, task, suffix):
    kind = task_kind(task)
    size = (3, 4)
    label = kind.random_label(5, size, torch.Generator().manual_seed(0)).numpy()
    label = label.transpose(1, 2, 0) if label.shape[0] == 3 else label[0]
    label = label.astype(kind.label_dtype)
    path = kind.encode(label, str(tmp_path / "x"), suffix)
    options = dict(shape=size, scale=1000.0)
    back = kind.decode(open(path, "rb").read(), path, options)
    tolerance = {"depth": 1e-3, "normals": 1 / 127}.get(task, 0)
    np.testing.assert_allclose(back, label, atol=tolerance)
