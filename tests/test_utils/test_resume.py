"""What ``--resume`` resumes from (mtcp.utils.resolve_resume)."""

import logging

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger

from mtcp.utils import resolve_resume


def config(work_dir, **kwargs) -> Config:
    return Config(dict(work_dir=str(work_dir), resume=True, load_from=None, **kwargs))


def test_nothing_to_resume_warns_and_starts_from_scratch(tmp_path):
    cfg = config(tmp_path)
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        resolve_resume(cfg)
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(tmp_path) in warnings[0]
    assert "training starts from scratch" in warnings[0]
    assert cfg.resume is False and cfg.load_from is None


def test_empty_last_checkpoint_is_an_error_naming_it(tmp_path):
    (tmp_path / "last_checkpoint").write_text("\n")
    with pytest.raises(ValueError) as error:
        resolve_resume(config(tmp_path))
    assert f"{tmp_path / 'last_checkpoint'} is empty" in str(error.value)


def test_dangling_last_checkpoint_is_an_error_naming_it_and_its_content(tmp_path):
    missing = str(tmp_path / "epoch_2.pth")
    (tmp_path / "last_checkpoint").write_text(missing)
    with pytest.raises(FileNotFoundError) as error:
        resolve_resume(config(tmp_path))
    message = str(error.value)
    assert str(tmp_path / "last_checkpoint") in message
    assert repr(missing) in message and "does not exist" in message


def test_named_checkpoint_becomes_load_from(tmp_path):
    checkpoint = tmp_path / "epoch_2.pth"
    checkpoint.write_bytes(b"x")
    (tmp_path / "last_checkpoint").write_text(f"{checkpoint}\n")
    cfg = config(tmp_path)
    resolve_resume(cfg)
    assert cfg.resume is True and cfg.load_from == str(checkpoint)


@pytest.mark.parametrize(
    "changes", [dict(resume=False), dict(load_from="elsewhere/epoch_9.pth")]
)
def test_no_automatic_resume_is_left_alone(tmp_path, changes):
    (tmp_path / "last_checkpoint").write_text("")  # would be an error
    cfg = config(tmp_path)
    cfg.update(changes)
    resolve_resume(cfg)
    assert cfg.resume == changes.get("resume", True)
    assert cfg.load_from == changes.get("load_from")
