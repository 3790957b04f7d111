"""All of a stage's outputs are swapped in together, or none are.

`gantl.io.atomic_path` and `atomic_dir` make each output whole on its own. A stage writes
several (translate: the translator, the translated data, its metrics and plots), so a failure
between two of them (a full disk, a kill) would leave a new translator beside old data. Inside
`stage_transaction`, every atomic write under the stage's output roots is built in a staging
folder and only recorded; when the stage returns, a journal listing the moves is written and the
moves are made. Should the process die in the middle of them, the next transaction finishes
them from the journal first (roll forward: every staged output was complete), so what a reader
sees is either all old or all new. A transaction that never reached its journal leaves only a
staging folder, which the next one sweeps away. Staging lives outside the outputs (in
`.gantl/staging`), so nothing half-written is ever hashed into dvc.lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("gantl")
JOURNAL = "journal.json"
_LOCK = "lock"
_UNLOCKED_GRACE_S = 600
_current: ContextVar[Transaction | None] = ContextVar("gantl_transaction", default=None)


@dataclass
class Transaction:
    """The moves a stage has staged: (staged path, destination), in the order they were made."""

    folder: Path
    roots: tuple[Path, ...]
    moves: list[tuple[Path, Path]] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)

    def covers(self, path: Path) -> bool:
        """True when `path` is one of the stage's outputs (under an output root)."""
        target = Path(path).resolve()
        return any(target.is_relative_to(root) for root in self.roots)

    @contextlib.contextmanager
    def staged(self, destination: Path, directory: bool) -> Iterator[Path]:
        """A fresh staging file or folder for `destination`, moved there at commit if the block
        succeeds (and dropped if it fails)."""
        name = Path(destination).name
        staged = temporary(self.folder, f"{name}.", "", directory)
        try:
            yield staged
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True) if directory else staged.unlink(
                missing_ok=True
            )
            raise
        self.moves.append((staged, Path(destination).absolute()))


def temporary(folder: Path, prefix: str, suffix: str, directory: bool) -> Path:
    """A new empty file or folder in `folder` with the mode open()/mkdir() would give it.

    tempfile makes them private (0600/0700); an output keeps that mode when it is renamed into
    place, and a report page or plot the user's group cannot read is a surprise.
    """
    if directory:
        path = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=folder))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        os.close(fd)
        path = Path(name)
    mask = os.umask(0)
    os.umask(mask)
    path.chmod((0o777 if directory else 0o666) & ~mask)
    return path


def current() -> Transaction | None:
    """The transaction of the stage running in this context, if any."""
    return _current.get()


def after_commit(action: Callable[[], None]) -> None:
    """Run `action` once the outputs are in place (now, outside a transaction): e.g. drop the
    resume state only when the outputs it would rebuild are safely swapped in."""
    transaction = current()
    if transaction is None:
        action()
    else:
        transaction.after.append(action)


@contextlib.contextmanager
def stage_transaction(
    roots: Sequence[Path], staging: Path, commit: bool = True
) -> Iterator[Transaction]:
    """Stage every atomic write under `roots` in `staging`; swap them in together on success
    (or, with `commit=False`, drop them: a data-parallel process other than the writer)."""
    staging = Path(staging)
    staging.mkdir(parents=True, exist_ok=True)
    recover(staging)
    fresh = Path(tempfile.mkdtemp(prefix="new-", dir=staging))
    with open(fresh / _LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held while alive: recover() leaves live ones alone
        folder = fresh.with_name(fresh.name.replace("new-", "txn-", 1))
        os.replace(fresh, folder)  # only locked folders are ever named txn-*
        transaction = Transaction(folder, tuple(Path(r).resolve() for r in roots))
        token = _current.set(transaction)
        try:
            yield transaction
        except BaseException:
            _current.reset(token)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _current.reset(token)
        if commit:
            _commit(transaction)
    shutil.rmtree(folder, ignore_errors=True)
    for action in transaction.after if commit else ():
        action()


def _commit(transaction: Transaction) -> None:
    """Write the journal (durably), then make the moves it lists."""
    journal = [[str(src), str(dst)] for src, dst in transaction.moves]
    path = transaction.folder / JOURNAL
    with open(path.with_suffix(".tmp"), "w") as f:
        json.dump(journal, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path.with_suffix(".tmp"), path)
    _apply(transaction.folder, journal)


def _apply(folder: Path, journal: list[list[str]]) -> None:
    """Each staged output replaces its destination; the old one goes to `folder`/old first.
    Idempotent: a move already made (its staged path gone) is skipped."""
    old = folder / "old"
    old.mkdir(exist_ok=True)
    for i, (src, dst) in enumerate(journal):
        staged, destination = Path(src), Path(dst)
        if not staged.exists() and not staged.is_symlink():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.exists() or destination.is_symlink():
            os.replace(destination, old / str(i))
        os.replace(staged, destination)


def recover(staging: Path) -> None:
    """Finish the swaps a dead transaction journaled; sweep away the ones it never reached."""
    for folder in sorted(Path(staging).glob("txn-*")):
        try:
            lock = open(folder / _LOCK, "a")  # noqa: SIM115 - held across the checks below
        except FileNotFoundError:  # its owner finished while we looked
            continue
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live transaction (a concurrent stage)
            journal = folder / JOURNAL
            if journal.is_file():
                log.warning("finishing the output swap of an interrupted stage (%s)", folder.name)
                _apply(folder, json.loads(journal.read_text()))
            shutil.rmtree(folder, ignore_errors=True)
    for fresh in Path(staging).glob("new-*"):  # died between creating and locking its folder
        if time.time() - fresh.stat().st_mtime > _UNLOCKED_GRACE_S:
            shutil.rmtree(fresh, ignore_errors=True)
