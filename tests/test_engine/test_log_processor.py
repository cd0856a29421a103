"""MultiTaskLogProcessor: a short training line, every term in the scalars."""

import json

from toy_runner import make_runner

from mtcp.engine import MultiTaskLogProcessor


def test_training_line_groups_terms_and_scalars_keep_them(tmp_path):
    runner = make_runner(
        tmp_path, max_epochs=1, log_processor=dict(type=MultiTaskLogProcessor)
    )
    runner.train()
    log = next(tmp_path.glob("*/*.log")).read_text()
    lines = [line for line in log.splitlines() if "Epoch(train)" in line]
    assert len(lines) == 4
    scalars = [
        json.loads(line)
        for line in next(tmp_path.glob("*/vis_data/scalars.json")).open()
    ]
    # every term under its own name in the scalars
    train = [record for record in scalars if "semseg.loss" in record]
    assert len(train) == 4
    for name in ("loss", "semseg.loss", "depth.loss", "weight.semseg", "lr"):
        assert name in train[0]
    # the line: loss, then per task its final-head loss (current weight)
    first = train[0]
    assert lines[0].endswith(
        f"data_time: {first['data_time']:.4f}  loss: {first['loss']:.4f}  "
        f"semseg: {first['semseg.loss']:.4f} (w 1.0000)  "
        f"depth: {first['depth.loss']:.4f} (w 1.0000)"
    ), lines[0]


def test_grouping_of_every_kind_of_term():
    processor = MultiTaskLogProcessor()
    terms = {
        "loss": 6.2648,
        "semseg.aux_16.loss": 1.6551,
        "semseg.aux_8.loss": 1.5589,
        "semseg.loss": 1.5332,
        "depth.loss": 0.8863,
        "coherence.semseg": 0.5666,
        "weight.semseg": 0.9436,
        "weight.depth": 1.0564,
        "grad_norm": 3.0,
        "weight.other": 2.0,
    }
    assert processor._grouped(terms) == (
        "loss: 6.2648  semseg: 1.5332 (aux 1.6070, coh 0.5666, w 0.9436)  "
        "depth: 0.8863 (w 1.0564)  grad_norm: 3.0000  weight.other: 2.0000"
    )
