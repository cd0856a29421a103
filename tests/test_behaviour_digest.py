"""What mtcp computes for every task on a fixed input (pipelines on fake
datasets in the real layouts, the tiny model's losses and predictions, the
metric, saved files, colours) equals the record made before the task kinds
were redesigned (``tests/fixtures/behaviour_digest.json``), except for two
intended changes of the boundary task, rerecorded since: its predictions are
saved as the field saves them for SEISM, ``(255 p).astype(uint8)`` (they
were rounded), and PASCAL-Context edges are the context label maps of the
package (they were an ``edge/`` folder of our own layout)."""

import json
from pathlib import Path

from behaviour_digest import assert_same, behaviour_digest

RECORD = Path(__file__).resolve().parent / "fixtures" / "behaviour_digest.json"


def test_behaviour_matches_the_record():
    assert_same(json.loads(RECORD.read_text()), behaviour_digest())
