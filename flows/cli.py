"""The `gantl` command: the core commands of gantl.cli plus the ones that start Prefect flows
(run, retrain, schedule, sweep). The core library imports no Prefect; this entry point does,
only when one of these commands runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.env import workspace_env
from gantl import cli as core
from gantl import progress
from gantl.cli import QuietOpt, err, fail, out, parse_seeds, print_summary, split_csv
from gantl.errors import ConfigError, GantlError

app = typer.Typer(help=core.app.info.help, no_args_is_help=True, pretty_exceptions_enable=False)
app.registered_commands += core.app.registered_commands  # stage, bench, data, lineage, profile
app.registered_groups += core.app.registered_groups


WatchOpt = Annotated[
    str | None,
    typer.Option(help="Drop folder (or file) defining the target data (default: raw files)."),
]
MinImprovementOpt = Annotated[
    float, typer.Option(help="Validator-score margin a candidate needs to be promoted.")
]


@app.command()
def run(
    force: Annotated[
        bool, typer.Option(help="Rerun every stage even if DVC says it is up to date.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Run the whole pipeline as a Prefect flow over the DVC stages (what `make run` does).

    The stages read params.yaml, the file DVC tracks; edit it (or copy one of configs/) first.
    """
    progress.configure(quiet)
    root = Path.cwd()
    workspace_env(root / ".prefect")
    from flows.pipeline import pipeline  # the orchestration layer, imported only for this command

    try:
        summary = pipeline(root=str(root), force=force)
    except GantlError as exc:
        raise fail(exc) from None
    print_summary(summary)


@app.command()
def retrain(
    watch: WatchOpt = None,
    force: Annotated[
        bool, typer.Option(help="Retrain even if the target data is unchanged.")
    ] = False,
    min_improvement: MinImprovementOpt = 0.0,
    quiet: QuietOpt = False,
) -> None:
    """Retrain once if the target data changed; promote the new model only if it scores better.

    What `gantl schedule` runs on its cron; the decision is appended to
    models/champion/registry.jsonl.
    """
    progress.configure(quiet)
    root = Path.cwd()
    workspace_env(root / ".prefect")
    from flows.retrain import retrain as retrain_flow

    try:
        decision = retrain_flow(
            root=str(root), watch=watch, force=force, min_improvement=min_improvement
        )
    except GantlError as exc:
        raise fail(exc) from None
    verdict = "promoted" if decision["promoted"] else "champion kept"
    out.print(f"{verdict}: {decision['reason']}", highlight=False, soft_wrap=True)


@app.command()
def schedule(
    cron: Annotated[str, typer.Option(help='Cron expression, e.g. "0 3 * * *" (03:00 daily).')],
    name: Annotated[str, typer.Option(help="Deployment name: gantl-retrain/<name>.")] = "nightly",
    watch: WatchOpt = None,
    min_improvement: MinImprovementOpt = 0.0,
    timezone: Annotated[str, typer.Option(help="Time zone of the cron expression.")] = "UTC",
    pool: Annotated[
        str | None,
        typer.Option(help="Deploy to this work pool (a worker runs it) instead of serving here."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="With --pool: where the worker gets the code (default: this repo)."),
    ] = None,
) -> None:
    """Schedule the retrain flow as a Prefect deployment (served here until Ctrl-C, or --pool).

    Point it at a Prefect server with PREFECT_API_URL (`prefect server start`); without one,
    the deployment lives only as long as this process.
    """
    root = Path.cwd()
    workspace_env(root / ".prefect")
    if not os.environ.get("PREFECT_API_URL"):
        err.print(
            "warning: PREFECT_API_URL is not set: the schedule lives in a temporary server "
            "that stops with this process (start `prefect server start` and export its URL)",
            highlight=False,
        )
    from flows.schedule import FLOW_NAME, RetrainSchedule, deploy_retrain, serve_retrain

    plan = RetrainSchedule(cron, name, root, watch, min_improvement, timezone)
    try:
        plan.deployment()  # parses the cron expression and time zone
    except ValueError as exc:
        raise fail(ConfigError(f"--cron/--timezone: {exc}")) from None
    if pool is None:
        out.print(f"serving {FLOW_NAME}/{name} on '{cron}' ({timezone}); Ctrl-C stops")
        serve_retrain(plan)
    else:
        deployment = deploy_retrain(plan, pool, source)
        out.print(
            f"deployed {FLOW_NAME}/{name} ({deployment}) to work pool {pool!r} on '{cron}'; "
            f"start a worker: prefect worker start --pool {pool}",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def sweep(
    methods: Annotated[str, typer.Option(help="Comma-separated methods.")] = "dann,adda",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Swept param: key=v1,v2 (repeatable), e.g. dann.lr=0.01,0.02"),
    ] = None,
    prefix: Annotated[str, typer.Option(help="Experiment name prefix.")] = "sweep",
    dask_address: Annotated[
        str | None, typer.Option(help="Run on this Dask scheduler (tcp://host:8786).")
    ] = None,
    dask_workers: Annotated[
        int | None, typer.Option(help="Run on a Dask LocalCluster of this many workers.")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Parallel experiments without Dask.")] = 2,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads per experiment (default: cores / parallel).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Leaderboard JSON (.md beside it).")] = Path(
        "sweeps/leaderboard.json"
    ),
) -> None:
    """Run a grid of methods × seeds × params as DVC experiments in parallel; print the leaderboard.

    Each point is `dvc exp run --temp`, so it needs a git commit of the pipeline (and reuses the
    stages it shares with it); `dvc exp show` lists the points afterwards.
    """
    root = Path.cwd()
    workspace_env(root / ".prefect")
    from gantl.sweep import parse_set

    try:
        seed_list = parse_seeds(seeds)
    except GantlError as exc:
        raise fail(exc) from None
    try:
        sets = dict(parse_set(s) for s in set_ or [])
    except GantlError as exc:
        raise fail(exc) from None
    from flows.sweep import default_threads, task_runner
    from flows.sweep import sweep as sweep_flow

    parallel = dask_workers or jobs
    runner = task_runner(dask_address, dask_workers, jobs, root / ".gantl" / "dask")
    try:
        rows = sweep_flow.with_options(task_runner=runner)(
            root=str(root),
            methods=split_csv(methods),
            seeds=seed_list,
            sets=sets,
            prefix=prefix,
            threads=threads or default_threads(parallel),
            out=str(out),
        )
    except GantlError as exc:
        raise fail(exc) from None
    from gantl.sweep import leaderboard_markdown

    Console(width=160).print(leaderboard_markdown(rows), highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
