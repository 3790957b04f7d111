"""What a killed process leaves behind, cleared so that the next `dvc repro` or `gantl run` works.

Two things survive a SIGKILL badly. gantl's own: a stage killed while swapping in its outputs
leaves a journal in `.gantl/staging`, which `gantl.transaction.recover` finishes. DVC's: DVC
rewrites `.dvc/tmp/rwlock` in place (truncate, then write), so a DVC killed in between leaves an
empty or half-written file, and every later `dvc` command fails with "Unable to read
RWLock-file … JSON structure is corrupted" until it is removed. With DVC's own guard on that
file held (`rwlock.lock`, so no DVC process is editing it), a file that does not parse holds
no lock anyone could rely on: it is set aside, renamed beside itself, not deleted.

No Prefect here: `gantl recover` and `gantl run` call it before Prefect starts.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from gantl.stages.paths import STAGING
from gantl.transaction import recover

RWLOCK = Path(".dvc/tmp/rwlock")
RWLOCK_GUARD = Path(".dvc/tmp/rwlock.lock")  # DVC takes it (flock) around every rwlock edit


def set_aside_corrupt_rwlock(root: str | Path) -> Path | None:
    """Rename an unreadable `.dvc/tmp/rwlock` to `rwlock.corrupt-<time>`; return the new path,
    or None when there is nothing to repair (or a DVC process is editing it right now)."""
    rwlock, guard_path = Path(root) / RWLOCK, Path(root) / RWLOCK_GUARD
    if not rwlock.is_file():
        return None
    with open(guard_path, "a") as guard:
        try:
            fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        try:
            json.loads(rwlock.read_text())
            return None
        except ValueError:
            aside = rwlock.with_name(f"rwlock.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(rwlock, aside)
            return aside


def recover_after_a_crash(root: str | Path) -> list[str]:
    """Finish interrupted output swaps and set aside a corrupt DVC rwlock; what was done."""
    done = []
    staging = Path(root) / STAGING
    if staging.is_dir() and any(staging.iterdir()):
        recover(staging)
        done.append(f"finished or swept the interrupted output swaps in {STAGING}")
    aside = set_aside_corrupt_rwlock(root)
    if aside is not None:
        done.append(f"set aside DVC's unreadable {RWLOCK} as {RWLOCK.with_name(aside.name)}")
    return done
