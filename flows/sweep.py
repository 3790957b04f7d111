"""The sweep flow: a grid of methods × seeds × params as DVC experiments, run in parallel.

Every point is `dvc exp run --temp` in its own temporary copy of the workspace, submitted as a
Prefect task: on the default thread-pool runner, or on a Dask cluster through prefect-dask (an
existing scheduler's address, or a LocalCluster started for the sweep). The results come back
from `dvc exp show --json` as a leaderboard (markdown + JSON), published as a Prefect artifact;
`dvc exp apply <name>` brings any point into the workspace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from gantl.errors import ConfigError
from gantl.io import write_json, write_text
from gantl.sweep import grid, leaderboard, leaderboard_markdown
from tasks.dvc_stage import StageFailed
from tasks.experiments import existing_experiments, run_experiment, show_experiments


@flow(name="gantl-sweep")
def sweep(
    root: str = ".",
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
    sets: dict[str, list[Any]] | None = None,
    prefix: str = "sweep",
    threads: int | None = None,
    out: str = "sweeps/leaderboard.json",
) -> list[dict]:
    """Run every point of the grid; write and publish the leaderboard; return its rows.

    threads: CPU threads per experiment (default: the cores shared among the parallel points).
    """
    logger = get_run_logger()
    root = str(Path(root).resolve())
    points = grid(methods or ["dann", "adda"], seeds or [0], sets, prefix)
    taken = sorted(existing_experiments(root) & {p.name for p in points})
    if taken:
        raise ConfigError(
            f"sweep: experiments {taken} already exist on this commit; pick another --prefix "
            "or remove them (`dvc exp remove <name>`)"
        )
    logger.info("sweep: %d experiments: %s", len(points), [p.name for p in points])
    futures = [run_experiment.submit(p, root, threads) for p in points]
    for future in futures:
        future.wait()
    failed = [p.name for p, f in zip(points, futures, strict=True) if f.state.is_failed()]
    rows = leaderboard(points, show_experiments(root))
    markdown = leaderboard_markdown(rows, f"Sweep {prefix}: {len(points)} experiments")
    out_path = Path(root) / out
    write_json(out_path, rows)
    write_text(out_path.with_suffix(".md"), markdown)
    create_markdown_artifact(key=f"gantl-sweep-{prefix}".lower(), markdown=markdown)
    logger.info("leaderboard: %s", out_path)
    if failed:
        raise StageFailed(f"sweep: {len(failed)} experiment(s) failed: {failed} (see {out_path})")
    return rows


def task_runner(
    dask_address: str | None = None,
    dask_workers: int | None = None,
    jobs: int = 2,
    scratch: Path | None = None,
):
    """The runner the points go to: a Dask cluster (address or LocalCluster), else threads.

    scratch: where a LocalCluster's workers spill and keep their files (default: Dask's own
    temp dir); the CLI keeps it inside the repo, in .gantl/dask.
    """
    if dask_address or dask_workers:
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        cluster = {
            "n_workers": dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
        if scratch is not None:
            cluster["local_directory"] = str(scratch)
        return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)
    return ThreadPoolTaskRunner(max_workers=jobs)


def default_threads(parallel: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, parallel))
