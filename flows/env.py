"""The environment the orchestration layer runs in: Prefect offline, its state in the workspace.

One home for these settings: the `gantl` commands that start flows, the test suite and the
Makefile (through those commands) all call `workspace_env`. A variable already set wins, so a
user's own Prefect server (`PREFECT_API_URL`) or home is respected.
"""

from __future__ import annotations

import os
from pathlib import Path


def workspace_env(state: Path) -> dict[str, str]:
    """Set (where unset) and return the variables that keep Prefect's server, results and
    torch's compile cache inside `state` (the CLI: the repo's .prefect/; the tests: their own)."""
    state = Path(state).resolve()
    defaults = {
        "PREFECT_HOME": str(state / "home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(state / "results"),
        "TORCHINDUCTOR_CACHE_DIR": str(state / "torchinductor"),
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    # Prefect creates its home but not the folders above it, and its server's database lives there
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    return {key: os.environ[key] for key in defaults}
