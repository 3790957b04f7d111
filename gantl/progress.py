"""Progress bars and logging that go quiet under `--quiet` and in tests."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

log = logging.getLogger("gantl")
_quiet = os.environ.get("GANTL_QUIET", "") not in ("", "0")


def configure(quiet: bool = False) -> None:
    """Set up gantl's log handler once; `quiet` hides progress and info logs."""
    global _quiet
    _quiet = quiet or _quiet
    if not log.handlers:
        log.addHandler(_handler())
        log.propagate = False
    log.setLevel(logging.WARNING if _quiet else logging.INFO)


def _handler() -> logging.Handler:
    """Rich's handler on a terminal; elsewhere (a pipe to `gantl run`, a CI log) one plain line
    per record, flushed at once, which Rich would wrap at 80 columns."""
    console = Console(stderr=True)
    if console.is_terminal:
        return RichHandler(console=console, show_path=False, show_time=False)
    handler = logging.StreamHandler()  # stderr, flushed after every record
    handler.setFormatter(logging.Formatter("%(levelname)-8s %(message)s"))
    return handler


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, steps)

    def describe(self, text: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=text)


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[_Bar]:
    """A rich progress bar on stderr, or a silent stand-in when quiet or not on a terminal."""
    console = Console(stderr=True)
    if _quiet or not console.is_terminal:
        yield _Bar(None, None)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield _Bar(progress, progress.add_task(description, total=total))


STAGE_TIMES_ENV = "GANTL_STAGE_TIMES"  # a JSON-lines file each `gantl stage` run appends to


def is_quiet() -> bool:
    return _quiet


def record_stage_time(stage: str, method: str | None, seconds: float) -> None:
    """Append one stage run's wall time to $GANTL_STAGE_TIMES, when it is set: how
    `gantl bench` times the stages of the DVC graph it runs in subprocesses."""
    path = os.environ.get(STAGE_TIMES_ENV)
    if path:
        record = {"stage": stage, "method": method, "seconds": round(seconds, 2)}
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
