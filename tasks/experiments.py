"""Prefect tasks: run one DVC experiment, and read every experiment's results back."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from prefect import get_run_logger, task

from gantl.sweep import Point
from tasks.dvc_stage import StageFailed, child_env, dvc
from tasks.processes import forget, spawn


@task(task_run_name="exp:{point.name}")
def run_experiment(point: Point, root: str, threads: int | None = None) -> dict:
    """`dvc exp run --temp` for one grid point: its own copy of the workspace, so points run
    side by side (on Dask workers or threads); DVC waits for its repo lock between them."""
    logger = get_run_logger()
    cmd = [
        sys.executable,
        "-m",
        "dvc",
        "--wait-for-lock",
        "exp",
        "run",
        "--temp",
        "--name",
        point.name,
    ]
    for override in point.overrides():
        cmd += ["--set-param", override]
    logger.info("%s: %s", point.name, " ".join(point.overrides()))
    start = time.perf_counter()
    proc = spawn(  # stopped with its process group when the sweep is stopped
        cmd,
        f"exp:{point.name}",
        cwd=root,
        env=child_env(threads),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate()
    finally:
        forget(proc)
    if proc.returncode != 0:
        tail = "\n".join((stdout + stderr).strip().splitlines()[-20:])
        raise StageFailed(f"experiment {point.name} failed (exit {proc.returncode}):\n{tail}")
    seconds = round(time.perf_counter() - start, 2)
    logger.info("%s: done in %.1fs", point.name, seconds)
    return {"experiment": point.name, "seconds": seconds}


@task
def existing_experiments(root: str) -> set[str]:
    """Names of the experiments already based on HEAD (`dvc exp list --name-only`)."""
    return set(dvc("exp", "list", "--name-only", root=root).stdout.split())


@task
def show_experiments(root: str) -> list[dict]:
    """`dvc exp show --json`: params and metrics of every experiment of the repo."""
    return json.loads(dvc("exp", "show", "--json", root=root).stdout)
