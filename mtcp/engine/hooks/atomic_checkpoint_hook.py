"""mmengine's CheckpointHook with writes a kill cannot corrupt."""

import os
import os.path as osp
from typing import List, Sequence

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

# Suffix of a checkpoint (or ``last_checkpoint``) being written.
PARTIAL_SUFFIX = ".writing"
# Runtime info of the message hub: the files the save that wrote a checkpoint
# removes once that checkpoint is complete (resume finishes the job).
SUPERSEDED_KEY = "superseded_ckpts"
# Runtime info: the checkpoints written when training was interrupted
# between two regular saves (``save_interrupted``); the next regular save
# supersedes them.
INTERRUPTED_KEY = "interrupted_ckpts"


def _fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(partial: str, final: str) -> None:
    """Flush ``partial`` to disk and rename it to ``final`` atomically."""
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, final)
    _fsync_dir(osp.dirname(osp.abspath(final)))


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a flushed temporary file and a
    rename: a reader sees the old content or the new one, never a part."""
    partial = path + PARTIAL_SUFFIX
    with open(partial, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    _fsync_dir(osp.dirname(osp.abspath(path)))


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) whose checkpoints
    survive a kill at any moment of a save.

    A save, on a local ``out_dir``:

    1. writes ``<name>.writing`` in the checkpoint directory, fsyncs it and
       renames it to ``<name>`` (an atomic replace);
    2. then points ``last_checkpoint`` at it, the same way;
    3. only then removes the checkpoints it supersedes (the oldest beyond
       ``max_keep_ckpts``, the previous best of ``save_best``).

    mmengine's hook removes them first and writes in place. A kill therefore
    leaves either the previous state (plus a ``.writing`` file, which the
    next run removes) or the new checkpoint with ``last_checkpoint`` still
    naming the previous one, or both complete with ``last_checkpoint`` naming
    the new one; the files a save supersedes are listed in the checkpoint's
    message hub (``superseded_ckpts``) and removed when a run resumes from
    it. A new best checkpoint is written, then the regular checkpoint that
    records it, then the previous best is removed.

    :meth:`save_interrupted` writes a mid-epoch checkpoint the same way
    when training is interrupted between two regular saves
    (:class:`~mtcp.engine.hooks.PreemptionHook`).

    A failed write (disk full, no permission) stops training with an error
    naming the file; the previous checkpoint and ``last_checkpoint`` are left
    as they were.

    With a non-local file backend (``backend_args`` or an ``out_dir`` URL)
    the file is put under its final name by the backend (whether a reader
    can see part of it depends on the storage) and the removals still come
    after the write.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        backend = getattr(self.file_backend, "client", self.file_backend)
        self.atomic = isinstance(backend, LocalBackend)
        if not self.atomic:
            runner.logger.warning(
                f"Checkpoints go to {self.out_dir} through "
                f"{type(backend).__name__}: they are not written atomically "
                "(only local directories are); old checkpoints are still "
                "removed only after the new one is written."
            )
        self.last_complete = runner.message_hub.get_info("last_ckpt")
        if is_main_process():
            self._clean_up(runner)

    def _clean_up(self, runner) -> None:
        """Remove what an interrupted save left: partial files and the files
        superseded by the checkpoint this run resumed from."""
        leftovers: List[str] = []
        if self.atomic and osp.isdir(self.out_dir):
            leftovers = [
                osp.join(self.out_dir, name)
                for name in sorted(os.listdir(self.out_dir))
                if name.endswith(PARTIAL_SUFFIX)
            ]
        last_partial = osp.join(runner.work_dir, "last_checkpoint" + PARTIAL_SUFFIX)
        if osp.isfile(last_partial) and last_partial not in leftovers:
            leftovers.append(last_partial)
        for path in leftovers:
            os.remove(path)
            runner.logger.info(f"Removed {path}, left by an interrupted save.")
        # Only this run's directory: a checkpoint resumed from elsewhere does
        # not remove files of the run that wrote it.
        superseded = [
            path
            for path in runner.message_hub.get_info(SUPERSEDED_KEY) or []
            if self.file_backend.join_path(self.out_dir, osp.basename(path)) == path
        ]
        self._remove(
            runner,
            superseded,
            "superseded by the resumed checkpoint",
            keep=[self.last_complete],
        )
        if self.atomic and self.save_best is not None and osp.isdir(self.out_dir):
            prefixes = tuple(
                f"best_{key}_".replace("/", "_") for key in self.key_indicators
            )
            in_use = self._in_use()
            for name in sorted(os.listdir(self.out_dir)):
                path = self._path(name)
                if name.startswith(prefixes) and path not in in_use:
                    runner.logger.warning(
                        f"{path} is not the best checkpoint this run records "
                        "(a kill between writing a new best checkpoint and "
                        "recording it leaves one); it is kept."
                    )

    def _save_checkpoint_with_step(
        self, runner, step: int, meta: dict, superseded: Sequence[str] = ()
    ) -> None:
        superseded = list(superseded)
        superseded += runner.message_hub.get_info(INTERRUPTED_KEY) or []
        runner.message_hub.update_info(INTERRUPTED_KEY, [])
        if self.max_keep_ckpts > 0 and not (
            self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step
        ):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                oldest = self.keep_ckpt_ids.popleft()
                superseded.append(self._path(self.filename_tmpl.format(oldest)))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self._path(filename)
        runner.message_hub.update_info("last_ckpt", self.last_ckpt)
        runner.message_hub.update_info(SUPERSEDED_KEY, superseded)
        self._write(
            runner,
            filename,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            **self.args,
        )
        self._record_last(runner)
        if is_main_process():
            self._remove(runner, superseded, "superseded")

    def save_interrupted(self, runner) -> str:
        """Write a resumable checkpoint of the training iteration that just
        ended, for a run that stops between two regular saves.

        Called from ``after_train_iter`` (by
        :class:`~mtcp.engine.hooks.PreemptionHook`, after this hook's own
        ``after_train_iter``). The file, ``iter_<N>.pth`` with N the number
        of iterations done, holds the model, optimizer, parameter schedulers
        and message hub like a regular checkpoint, and ``epoch``/``iter`` in
        its meta as mmengine writes them for an iteration-based save (the
        epochs completed, the iterations completed). It is written atomically
        and ``last_checkpoint`` then names it; it is outside the
        ``max_keep_ckpts`` rotation, and the next save (regular or
        interrupted) of the resumed run removes it. When a regular save has just written this iteration's
        checkpoint, that one is returned instead.

        Returns:
            str: The checkpoint's path.
        """
        step = runner.iter + 1
        filename = f"iter_{step}.pth"
        path = self._path(filename)
        if self.last_complete == path:
            return path
        # an earlier interrupted checkpoint (the run was interrupted twice
        # since its last regular save) goes once this one is complete
        earlier = [
            p for p in runner.message_hub.get_info(INTERRUPTED_KEY) or [] if p != path
        ]
        runner.message_hub.update_info(INTERRUPTED_KEY, [path])
        runner.message_hub.update_info(SUPERSEDED_KEY, earlier)
        runner.message_hub.update_info("last_ckpt", path)
        self.last_ckpt = path
        self._write(
            runner,
            filename,
            save_optimizer=True,
            save_param_scheduler=True,
            meta=dict(epoch=runner.epoch, iter=step),
            by_epoch=False,
            **self.args,
        )
        self._record_last(runner)
        if is_main_process():
            self._remove(runner, earlier, "superseded")
        return path

    def _record_last(self, runner) -> None:
        """Point ``last_checkpoint`` at the checkpoint just written."""
        previous, self.last_complete = self.last_complete, self.last_ckpt
        if not is_main_process():
            return
        record = osp.join(runner.work_dir, "last_checkpoint")
        try:
            write_text_atomic(record, self.last_ckpt)
        except OSError as error:
            raise RuntimeError(
                f"Could not update {record}: {error}. Training stops; the "
                f"checkpoint {self.last_ckpt} is complete, {record} still names "
                f"{previous}."
            ) from error

    def _save_best_checkpoint(self, runner, metrics: dict) -> None:
        if not self.save_best:
            return
        step = runner.epoch if self.by_epoch else runner.iter
        unit = "epoch" if self.by_epoch else "iter"
        ckpt_filename = self.filename_tmpl.format(step)
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if "auto" in self.key_indicators:
            self._init_rule(self.rules, [next(iter(metrics))])

        single = len(self.key_indicators) == 1
        updated, replaced = False, []
        for key, rule in zip(self.key_indicators, self.rules):
            score_key = "best_score" if single else f"best_score_{key}"
            path_key = "best_ckpt" if single else f"best_ckpt_{key}"
            best = runner.message_hub.get_info(score_key, self.init_value_map[rule])
            score = metrics[key]
            if score is None or not self.is_better_than[key](score, best):
                continue
            previous = self.best_ckpt_path if single else self.best_ckpt_path_dict[key]
            name = f"best_{key}_{ckpt_filename}".replace("/", "_")
            path = self._path(name)
            runner.message_hub.update_info(score_key, score)
            runner.message_hub.update_info(path_key, path)
            if single:
                self.best_ckpt_path = path
            else:
                self.best_ckpt_path_dict[key] = path
            self._write(
                runner,
                name,
                save_optimizer=False,
                save_param_scheduler=False,
                meta=meta,
                by_epoch=False,
            )
            runner.logger.info(
                f"The best checkpoint with {score:0.4f} {key} at {step} {unit} "
                f"is saved to {name}."
            )
            updated = True
            if previous and previous != path:
                replaced.append(previous)
        if not updated:
            return
        if self.last_ckpt is not None:
            # The regular checkpoint records the new best (so that a resumed
            # run keeps track of it) before the previous best goes.
            self._save_checkpoint_with_step(runner, step, meta, superseded=replaced)
        elif is_main_process():
            self._remove(runner, replaced, "the previous best checkpoint")

    def _in_use(self) -> set:
        """The latest checkpoint and the current best ones."""
        paths = {self.last_ckpt}
        if self.save_best is not None:
            if len(self.key_indicators) == 1:
                paths.add(self.best_ckpt_path)
            else:
                paths.update(self.best_ckpt_path_dict.values())
        return paths

    def _path(self, filename: str) -> str:
        return self.file_backend.join_path(self.out_dir, filename)

    def _write(self, runner, filename: str, **kwargs) -> None:
        """``runner.save_checkpoint`` to ``filename``, atomically when local."""
        target = filename + PARTIAL_SUFFIX if self.atomic else filename
        final = self._path(filename)
        partial = self._path(target)
        try:
            runner.save_checkpoint(
                self.out_dir,
                target,
                self.file_client_args,
                backend_args=self.backend_args,
                **kwargs,
            )
            if self.atomic and is_main_process():
                publish(partial, final)
        except OSError as error:
            if self.atomic and is_main_process() and osp.isfile(partial):
                os.remove(partial)
            previous = (
                f"the previous checkpoint {self.last_complete} is intact and "
                "last_checkpoint still names it"
                if self.last_complete
                else "no earlier checkpoint was written"
            )
            raise RuntimeError(
                f"Could not write the checkpoint {final}: {error}. Training "
                f"stops; {previous}."
            ) from error

    def _remove(
        self, runner, paths: Sequence[str], what: str, keep: Sequence[str] = ()
    ) -> None:
        """Remove checkpoint files (or directories) other than those in use
        and those in ``keep``."""
        in_use = self._in_use().union(keep)
        for path in paths:
            if path in in_use:
                continue
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)
            else:
                continue
            runner.logger.info(f"Removed {path} ({what}).")
