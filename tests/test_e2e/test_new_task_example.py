"""docs/new_task.md's worked example, run as written in a folder outside the
repository: a task kind of the user's own (albedo) in one file, loaded with
custom_imports, declared in the config, trained with the tiny model on
folder data and scored with its own meter, in the table and in Delta_m."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "new_task.md"
FILES = {"albedo.py": "my_tasks/albedo.py", "albedo_demo.py": "my_tasks/albedo_demo.py"}


def doc_blocks(language: str):
    text = DOC.read_text()
    section = text[text.index("## Worked example") :]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def test_the_files_in_the_docs_are_the_shipped_ones():
    blocks = doc_blocks("python")
    assert blocks == [(REPO / "docs" / "examples" / f).read_text() for f in FILES]


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """A user's folder: the mtcp tools and configs, and the example's files;
    nothing of mtcp/ (the installed package is used)."""
    root = tmp_path_factory.mktemp("user_project")
    for name in ("tools", "configs"):
        (root / name).symlink_to(REPO / name)
    (root / "my_tasks").mkdir()
    for block, target in zip(doc_blocks("python"), FILES.values()):
        (root / target).write_text(block)
    (commands,) = doc_blocks("bash")
    python_dir = str(Path(sys.executable).parent)
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PATH=python_dir + os.pathsep + os.environ["PATH"],
    )
    proc = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", commands],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return root, out


def test_the_example_trains_and_scores_its_own_task(example_run):
    root, out = example_run
    assert not (root / "mtcp").exists()
    assert "wrote 12 albedo labels" in out
    assert "albedo results (4 of 4 images with a label)" in out
    figures = out.split("Iter(val)")[-1]
    mae = float(re.search(r"albedo/mae: (\S+)", figures).group(1))
    assert 0 < mae < 50
    assert re.search(r"albedo/within5: \S+", figures)
    assert re.search(r"multitask/delta_m: -?\d", figures)
    # the albedo loss reached the weighting (its term and weight on the log
    # line, grouped by task) and was finite
    assert re.search(r"albedo: \d+\.\d+ \(aux \d+\.\d+, coh \d+\.\d+, w \d", out)
    assert (root / "work_dirs/albedo_demo/iter_20.pth").is_file()
