"""Deployments of the retrain flow on a cron schedule.

Two ways to run them (README, "Scheduled retraining"):
- `serve`: this process registers the deployment with the Prefect API and runs its flow runs
  itself, in subprocesses, until stopped. Nothing else to set up beyond a Prefect server.
- `deploy` to a work pool: the deployment lives on the server and a worker started elsewhere
  (`prefect worker start --pool <pool>`, e.g. on a GPU machine) picks up its runs. The worker
  loads the flow from `source`: this repository's path (shared filesystem) or a git URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron

from flows.retrain import retrain

FLOW_NAME = "gantl-retrain"
DESCRIPTION = "Retrain when the target data changes; promote a better model."
TAGS = ["gantl", "retrain"]


def _parameters(root: Path, watch: str | None, min_improvement: float) -> dict[str, Any]:
    return {"root": str(Path(root).resolve()), "watch": watch, "min_improvement": min_improvement}


def serve_retrain(
    cron: str,
    name: str = "nightly",
    root: Path = Path("."),
    watch: str | None = None,
    min_improvement: float = 0.0,
    timezone: str = "UTC",
) -> None:
    """Create (or update) deployment `gantl-retrain/<name>` and serve it until interrupted."""
    retrain.serve(
        name=name,
        schedule=Cron(cron, timezone=timezone),
        parameters=_parameters(root, watch, min_improvement),
        description=DESCRIPTION,
        tags=TAGS,
        pause_on_shutdown=True,
        entrypoint_type=EntrypointType.MODULE_PATH,  # flows.retrain, from the installed package
    )


def deploy_retrain(
    cron: str,
    pool: str,
    name: str = "nightly",
    root: Path = Path("."),
    source: str | None = None,
    watch: str | None = None,
    min_improvement: float = 0.0,
    timezone: str = "UTC",
) -> UUID:
    """Create (or update) deployment `gantl-retrain/<name>` on work pool `pool`; return its id."""
    flow = retrain.from_source(
        source=source or str(Path(root).resolve()), entrypoint="flows/retrain.py:retrain"
    )
    return flow.deploy(
        name=name,
        work_pool_name=pool,
        schedule=Cron(cron, timezone=timezone),
        parameters=_parameters(root, watch, min_improvement),
        description=DESCRIPTION,
        tags=TAGS,
        build=False,
        push=False,
        print_next_steps=False,
        ignore_warnings=True,  # the process-pool hint suggests serve(), which `gantl schedule` is
    )
