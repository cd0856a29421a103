"""What mtcp computes for every task on a fixed input (pipelines on fake
datasets in the real layouts, the tiny model's losses and predictions, the
metric, saved files, colours) equals the record made before the task kinds
were redesigned (``tests/fixtures/behaviour_digest.json``)."""

import json
from pathlib import Path

from behaviour_digest import assert_same, behaviour_digest

RECORD = Path(__file__).resolve().parent / "fixtures" / "behaviour_digest.json"


def test_behaviour_matches_the_record():
    assert_same(json.loads(RECORD.read_text()), behaviour_digest())
