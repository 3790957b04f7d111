"""A pipeline run that is alone in its repository and stops everything it started.

`run_lock`: one `gantl run` (or retrain, sweep) per repository. `prefect_server`: Prefect's
temporary server, started by us so that it stops with the run. `stop_on_signals`: SIGINT or
SIGTERM stops the stage processes and the server, then exits. No Prefect at import: `gantl run`
takes its lock and validates its params before Prefect starts.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gantl.errors import GantlError
from tasks.processes import STOP_SIGNALS, isolated, stop_all

# --- one pipeline run per repository ----------------------------------------------------------

LOCK_FILE = Path(".gantl") / "run.lock"
_held: dict[Path, int] = {}  # lock files this process holds → how many times (re-entrant)


class RunLocked(GantlError):
    """Another process is running the pipeline in this repository."""


def _lock_holder(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return f"pid {text}" if text.isdigit() else "pid unknown"


def _acquire(path: Path, wait: bool, on_wait: Callable[[str], None] | None) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children (O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(fd)
        if not wait:
            os.close(fd)
            raise RunLocked(
                f"another gantl run holds {path} ({holder}); wait for it (--wait) or stop it"
            ) from None
        if on_wait is not None:
            on_wait(f"waiting for the gantl run holding {path} ({holder})")
        fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


@contextmanager
def run_lock(
    root: str | Path, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Iterator[Path]:
    """Hold `<root>/.gantl/run.lock` (flock) while running the pipeline; raise RunLocked at once
    when another process holds it (or, with `wait`, block until it is free). The holder's pid
    is written into the file for that message. Re-entrant within a process: `gantl run` takes
    it before starting Prefect, and the flows (which a served deployment runs without the CLI)
    take it again."""
    path = (Path(root) / LOCK_FILE).resolve()
    if _held.get(path):
        _held[path] += 1
        try:
            yield path
        finally:
            _held[path] -= 1
        return
    fd = _acquire(path, wait, on_wait)
    _held[path] = 1
    try:
        yield path
    finally:
        del _held[path]
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# --- Prefect's temporary server, stopped with the run -----------------------------------------


@contextmanager
def prefect_server() -> Iterator[subprocess.Popen | None]:
    """Prefect's temporary (ephemeral) server, started now from this (the main) thread as the
    instance Prefect will use, but in its own session (a Ctrl-C reaches gantl, which stops it)
    and dying with this process even on SIGKILL; stopped on leaving. Yields its process; None
    when a Prefect API (PREFECT_API_URL) is configured, which is not ours to start or stop."""
    from prefect.server.api import server as prefect_api_server
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        yield None
        return

    class _IsolatedSubprocess:  # what the server module sees as `subprocess` while it starts
        TimeoutExpired = subprocess.TimeoutExpired

        @staticmethod
        def Popen(*args, **kwargs):  # stands in for subprocess.Popen
            return subprocess.Popen(*args, **kwargs, **isolated())

    class _Server(prefect_api_server.SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen:
            real = prefect_api_server.subprocess
            prefect_api_server.subprocess = _IsolatedSubprocess
            try:
                return super()._run_uvicorn_command()
            finally:
                prefect_api_server.subprocess = real

    server = _Server()  # SubprocessASGIServer is a singleton per port: Prefect gets this one
    server.start()
    try:
        yield server.server_process
    finally:
        _drain_prefect()  # what is still to be sent goes before the server does (as the harness)
        server.stop()


def _drain_prefect(timeout: float = 10) -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout)


def _terminate(proc: subprocess.Popen | None, grace: float = 3.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()


def _say(line: str) -> None:  # straight to fd 2: no lock another thread could hold
    os.write(2, f"error: {line}\n".encode())


def _stop_everything(
    command: str, signum: int, run: dict, say: Callable[[str], None]
) -> None:  # pragma: no cover - ends the process (tests/test_run_guard.py runs it)
    logging.disable(logging.CRITICAL)  # Prefect reporting the killed stages: not now
    stopped = stop_all()
    done = [f"stopped stage(s) {', '.join(stopped)}" if stopped else "no stage was running"]
    if run.get("server") is not None:
        _terminate(run["server"])
        done.append("stopped the Prefect server")
    say(
        f"gantl {command} stopped by {signal.Signals(signum).name}: {'; '.join(done)}; "
        "dvc.lock records only the stages that finished"
    )
    sys.stdout.flush()
    os._exit(128 + signum)


@contextmanager
def stop_on_signals(command: str, say: Callable[[str], None] = _say) -> Iterator[dict]:
    """While inside: on SIGINT or SIGTERM, stop the running stages (their process groups) and
    the temporary Prefect server (set it as `run["server"]` on the dict yielded), `say` one
    line (`error: gantl run stopped by SIGTERM: …`) and exit 128 + the signal (130, 143).

    The signals are blocked in this thread, and so in every thread started inside (the mask is
    inherited), and taken by one watcher thread with sigtimedwait: Prefect's own SIGTERM
    handler, which a flow run installs, never sees them, and no thread is interrupted midway.
    Children unblock them (tasks.processes.child_setup). Enter it before any other thread.
    """
    run: dict = {"server": None}
    if not hasattr(signal, "sigtimedwait"):  # pragma: no cover - macOS: plain handlers
        handler = lambda signum, frame: _stop_everything(command, signum, run, say)  # noqa: E731
        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
        try:
            yield run
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            info = signal.sigtimedwait(STOP_SIGNALS, 0.2)
            if info is not None:
                _stop_everything(command, info.si_signo, run, say)

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    watcher = threading.Thread(target=watch, name="gantl-stop-on-signals", daemon=True)
    watcher.start()
    try:
        yield run
    finally:
        done.set()
        watcher.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class _WithoutTraceback(logging.Formatter):
    """Formats a record as `inner` does, but without its traceback."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def hide_tracebacks() -> None:
    """Prefect's console log lines without the tracebacks of failed runs (a stage's failure is
    its own output plus one line; GANTL_DEBUG=1 keeps them). Its API log keeps them."""
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()  # Prefect adds its console handler when first set up: have it now
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler.formatter, _WithoutTraceback
        ):
            handler.setFormatter(_WithoutTraceback(handler.formatter))
