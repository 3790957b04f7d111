"""Deployments of the retrain flow on a cron schedule.

Two ways to run them (README, "Scheduled retraining"):
- `serve`: this process registers the deployment with the Prefect API and runs its flow runs
  itself, in subprocesses, until stopped. Nothing else to set up beyond a Prefect server.
- `deploy` to a work pool: the deployment lives on the server and a worker started elsewhere
  (`prefect worker start --pool <pool>`, e.g. on a GPU machine) picks up its runs. The worker
  loads the flow from `source`: this repository's path (shared filesystem) or a git URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron

from flows.retrain import retrain

FLOW_NAME = "gantl-retrain"
DESCRIPTION = "Retrain when the target data changes; promote a better model."
TAGS = ["gantl", "retrain"]


@dataclass(frozen=True)
class RetrainSchedule:
    """What a retrain deployment is: its name, cron and the flow's parameters."""

    cron: str
    name: str = "nightly"
    root: Path = Path(".")
    watch: str | None = None  # drop folder (or file) defining the target data
    min_improvement: float = 0.0  # validator-score margin a candidate needs
    timezone: str = "UTC"

    def deployment(self) -> dict[str, Any]:
        """The arguments `serve` and `deploy` share."""
        return {
            "name": self.name,
            "schedule": Cron(self.cron, timezone=self.timezone),
            "parameters": {
                "root": str(Path(self.root).resolve()),
                "watch": self.watch,
                "min_improvement": self.min_improvement,
            },
            "description": DESCRIPTION,
            "tags": TAGS,
        }


def serve_retrain(schedule: RetrainSchedule) -> None:
    """Create (or update) deployment `gantl-retrain/<name>` and serve it until interrupted."""
    retrain.serve(
        **schedule.deployment(),
        pause_on_shutdown=True,
        entrypoint_type=EntrypointType.MODULE_PATH,  # flows.retrain, from the installed package
    )


def deploy_retrain(schedule: RetrainSchedule, pool: str, source: str | None = None) -> UUID:
    """Create (or update) deployment `gantl-retrain/<name>` on work pool `pool`; return its id.

    source: where the worker loads the flow from (default: this repository's path)."""
    flow = retrain.from_source(
        source=source or str(Path(schedule.root).resolve()), entrypoint="flows/retrain.py:retrain"
    )
    return flow.deploy(
        **schedule.deployment(),
        work_pool_name=pool,
        build=False,
        push=False,
        print_next_steps=False,
        ignore_warnings=True,  # the process-pool hint suggests serve(), which `gantl schedule` is
    )
