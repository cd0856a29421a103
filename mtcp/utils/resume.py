"""Find what ``--resume`` resumes from, before the runner is built."""

import logging
import os.path as osp

from mmengine import fileio
from mmengine.config import Config
from mmengine.logging import print_log


def resolve_resume(cfg: Config) -> None:
    """Check the ``last_checkpoint`` file of an automatic resume.

    With ``cfg.resume`` and no ``cfg.load_from``, mmengine resumes from the
    checkpoint named in ``<work_dir>/last_checkpoint``. Here:

    - no such file: a warning naming the work dir, and training starts from
      scratch (``cfg.resume`` becomes False);
    - an empty file, or one naming a checkpoint that does not exist: an error
      naming the file and what it holds;
    - otherwise ``cfg.load_from`` becomes the named checkpoint, so the runner
      resumes from it and the hooks can name it.

    Args:
        cfg (Config): The training config, with ``work_dir`` set; updated in
            place.

    Raises:
        ValueError: ``last_checkpoint`` is empty.
        FileNotFoundError: ``last_checkpoint`` names a missing checkpoint.
    """
    if not cfg.get("resume") or cfg.get("load_from") is not None:
        return
    record = osp.join(cfg.work_dir, "last_checkpoint")
    if not osp.isfile(record):
        print_log(
            f"--resume: nothing to resume in the work dir {cfg.work_dir} (it has "
            "no last_checkpoint file); training starts from scratch.",
            logger="current",
            level=logging.WARNING,
        )
        cfg.resume = False
        return
    with open(record) as file:
        content = file.read()
    path = content.strip()
    if not path:
        raise ValueError(
            f"--resume: {record} is empty; it should hold the path of the "
            "checkpoint to resume from. Write that path into it, pass it as "
            "--cfg-options load_from=<checkpoint>, or delete the file to train "
            "from scratch."
        )
    if not fileio.exists(path):
        raise FileNotFoundError(
            f"--resume: {record} names the checkpoint {content!r}, which does "
            "not exist. Point it at an existing checkpoint (or pass one as "
            "--cfg-options load_from=<checkpoint>), or delete the file to "
            "train from scratch."
        )
    print_log(f"--resume: resuming from {path} (named by {record})", logger="current")
    cfg.load_from = path
