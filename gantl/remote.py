"""Push and pull the pipeline's DVC-tracked outputs to and from a DVC remote.

This module shells out to the `dvc` command instead of importing DVC: `gantl/` is the core
library and imports neither DVC nor Prefect (DESIGN.md), and DVC's Python internals are not a
stable API. Running `python -m dvc` with this interpreter uses the DVC installed beside gantl
(the one `dvc repro` recorded dvc.lock with), whatever `dvc` happens to be first on PATH, and
DVC's own progress and error messages reach the user unchanged.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from gantl.errors import GantlError

Action = Literal["push", "pull"]


class RemoteError(GantlError):
    """`dvc push` / `dvc pull` failed, or DVC is not installed."""


def dvc_command(
    action: Action, targets: Sequence[str] = (), remote: str | None = None
) -> list[str]:
    """The argv of `dvc <action>`; no `--remote` means the remote `core.remote` names."""
    argv = [sys.executable, "-m", "dvc", action]
    if remote is not None:
        argv += ["--remote", remote]
    return [*argv, *targets]


def transfer(
    action: Action,
    root: Path = Path("."),
    remote: str | None = None,
    targets: Sequence[str] = (),
) -> None:
    """Run `dvc push` or `dvc pull` in `root`, DVC's output going straight to our stdout/stderr.

    Raises RemoteError when DVC is missing or exits non-zero (DVC has printed why by then).
    """
    if importlib.util.find_spec("dvc") is None:  # finds the package without importing it
        raise RemoteError(
            f"gantl data {action} needs DVC in this environment ({sys.executable}); "
            "install it with `pip install dvc`"
        )
    if not Path(root).is_dir():
        raise RemoteError(f"--root {root}: no such directory")
    returncode = subprocess.run(dvc_command(action, targets, remote), cwd=root).returncode
    if returncode != 0:
        where = f"remote {remote!r}" if remote else "the default remote"
        direction = "to" if action == "push" else "from"
        raise RemoteError(
            f"dvc {action} {direction} {where} in {Path(root).resolve()} exited {returncode} "
            "(DVC's message is above)"
        )
