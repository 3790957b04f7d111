"""What a killed process leaves behind, cleared so that the next `dvc repro` or `gantl run` works.

Three things survive a SIGKILL badly. gantl's own: a stage killed while swapping in its outputs
leaves a journal in `.gantl/staging`, which `gantl.transaction.recover` finishes. DVC's: DVC
rewrites `.dvc/tmp/rwlock` and `dvc.lock` in place (truncate, then write), so a DVC killed in
between leaves an empty or half-written file, and every later `dvc` command fails ("Unable to
read RWLock-file … JSON structure is corrupted", "'./dvc.lock' validation failed") until it is
dealt with. Each is only touched while DVC's own lock on it is held here (`rwlock.lock` for the
first, the repo lock `.dvc/tmp/lock` for dvc.lock), so no DVC process is writing it, and is set
aside, renamed beside itself, never deleted. An unreadable dvc.lock is replaced by git's
committed one where that is readable, else left absent: either way DVC then reruns (or restores
from its run cache) exactly the stages whose record is gone.

No Prefect here: `gantl recover` and `gantl run` call it before Prefect starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from gantl.stages.paths import STAGING
from gantl.transaction import recover

RWLOCK = Path(".dvc/tmp/rwlock")
RWLOCK_GUARD = Path(".dvc/tmp/rwlock.lock")  # DVC takes it (flock) around every rwlock edit
REPO_LOCK = Path(".dvc/tmp/lock")  # DVC holds it (flock) whenever it writes dvc.lock
LOCKFILE = Path("dvc.lock")


@contextlib.contextmanager
def _holding(lock_path: Path) -> Iterator[bool]:
    """Try DVC's flock on `lock_path` without waiting; yield whether it is ours."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    return aside


def set_aside_corrupt_rwlock(root: str | Path) -> Path | None:
    """Rename an unreadable `.dvc/tmp/rwlock` to `rwlock.corrupt-<time>`; return the new path,
    or None when there is nothing to repair (or a DVC process is editing it right now)."""
    rwlock = Path(root) / RWLOCK
    if not rwlock.is_file():
        return None
    with _holding(Path(root) / RWLOCK_GUARD) as ours:
        if not ours:
            return None
        try:
            json.loads(rwlock.read_text())
            return None
        except ValueError:
            return _aside(rwlock)


def _readable_lockfile(text: str) -> bool:
    """Whether DVC itself would load this dvc.lock (its YAML parser and schema)."""
    from dvc.exceptions import DvcException
    from dvc.schema import COMPILED_LOCKFILE_SCHEMA
    from dvc.utils.serialize import parse_yaml
    from dvc.utils.strictyaml import validate

    try:
        validate(parse_yaml(text, str(LOCKFILE)), COMPILED_LOCKFILE_SCHEMA)
    except DvcException:
        return False
    return True


def _committed_lockfile(root: Path) -> str | None:
    proc = subprocess.run(
        ["git", "show", f"HEAD:{LOCKFILE}"], cwd=root, capture_output=True, text=True
    )
    return proc.stdout if proc.returncode == 0 and _readable_lockfile(proc.stdout) else None


def set_aside_corrupt_lockfile(root: str | Path) -> tuple[Path, bool] | None:
    """Rename an unreadable dvc.lock to `dvc.lock.corrupt-<time>` and put git's committed one in
    its place where there is a readable one; (the renamed file, whether git's was restored), or
    None when there is nothing to repair (or DVC holds the repo)."""
    root = Path(root)
    lockfile = root / LOCKFILE
    if not lockfile.is_file() or not (root / ".dvc").is_dir():
        return None
    with _holding(root / REPO_LOCK) as ours:
        if not ours or _readable_lockfile(lockfile.read_text(errors="replace")):
            return None
        aside = _aside(lockfile)
        committed = _committed_lockfile(root)
        if committed is not None:
            lockfile.write_text(committed)
        return aside, committed is not None


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
    repaired = set_aside_corrupt_lockfile(root)
    if repaired is not None:
        lock_aside, from_git = repaired
        instead = "git's committed one restored" if from_git else "none committed: DVC reruns"
        done.append(f"set aside the unreadable {LOCKFILE} as {lock_aside.name} ({instead})")
    return done
