"""The processes a pipeline run starts, so that stopping the run stops them.

Every stage (and experiment) command is started through `spawn`: as an argument list (no
shell), in its own session, so that its whole process group can be stopped at once, and on
Linux with a parent-death signal, so that it dies with the thread that started it even when
`gantl run` itself is killed with SIGKILL and can clean nothing up. `stop_all` (the signal
handler of `gantl run`) stops every one of them: SIGTERM to the group, a short grace, SIGKILL.

No Prefect here: the CLI imports this module before the Prefect server starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

_children: dict[int, tuple[str, subprocess.Popen]] = {}  # pid → (what it runs, process)
_children_lock = threading.Lock()
stopping = threading.Event()  # set once the run is being stopped: start nothing new


class StageFailed(RuntimeError):
    """A stage's (or DVC's) command failed. `returncode` 2 is the command's verdict on its
    input (a user error), which running it again cannot change."""

    def __init__(self, message: str, stage: str | None = None, returncode: int | None = None):
        super().__init__(message)
        self.stage, self.returncode = stage, returncode

    def __reduce__(self):  # results are pickled: keep the attributes
        return type(self), (str(self), self.stage, self.returncode)


class RunStopped(StageFailed):
    """The run is being stopped (SIGINT/SIGTERM): no stage may start."""


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return None


_prctl = _libc_prctl()  # resolved here: the forked child must only call it
_PR_SET_PDEATHSIG = 1


# `gantl run` blocks them (flows/guard.py)
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def child_setup() -> Callable[[], None]:
    """A `preexec_fn`: unblock SIGINT/SIGTERM (a signal mask is inherited, and `gantl run`
    blocks them to take them in one thread), and on Linux make the child get SIGKILL when the
    thread that starts it exits (PR_SET_PDEATHSIG).

    "Parent" is the starting *thread*: start children only from a thread that outlives them
    (a task's thread, which waits for its stage; the main thread).
    """
    parent = os.getpid()
    prctl = _prctl

    def preexec() -> None:  # runs in the child between fork and exec: nothing but syscalls
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)

    return preexec


def isolated() -> dict:
    """Popen keywords for a child that is stopped with its group and dies with its parent."""
    return {"start_new_session": True, "preexec_fn": child_setup()}


def spawn(argv: list[str], what: str, **popen: object) -> subprocess.Popen:
    """Start `argv` (an argument list, never a shell) as a tracked, isolated child."""
    with _children_lock:
        if stopping.is_set():
            raise RunStopped(f"{what}: not started: the run is being stopped", what)
        proc = subprocess.Popen(argv, **isolated(), **popen)
        _children[proc.pid] = (what, proc)
    return proc


def forget(proc: subprocess.Popen) -> None:
    """`proc` has been waited for: stop tracking it."""
    with _children_lock:
        _children.pop(proc.pid, None)


def _killpg(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # gone already
        os.killpg(pid, sig)


def stop_all(grace: float = 3.0) -> list[str]:
    """Stop every tracked child's process group (SIGTERM, `grace` seconds, SIGKILL); start no
    new one from now on. Returns what they were running."""
    stopping.set()
    with _children_lock:
        children = list(_children.values())
    for _, proc in children:
        _killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for _, p in children):
        time.sleep(0.05)
    for _, proc in children:  # the group may outlive its leader: SIGKILL it regardless
        _killpg(proc.pid, signal.SIGKILL)
    return [what for what, _ in children]
