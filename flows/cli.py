"""The `gantl` command: the core commands of gantl.cli plus the ones that start Prefect flows
(run, retrain, schedule, sweep). The core library imports no Prefect; this entry point does,
only when one of these commands runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated

import typer

from flows.env import workspace_env
from gantl import cli as core
from gantl import progress
from gantl.cli import QuietOpt, err, fail, out, parse_seeds, print_summary, split_csv
from gantl.errors import ConfigError, GantlError

app = typer.Typer(help=core.app.info.help, no_args_is_help=True, pretty_exceptions_enable=False)
app.registered_commands += core.app.registered_commands  # stage, bench, data, lineage, profile
app.registered_groups += core.app.registered_groups
app.registered_callback = core.app.registered_callback  # the global --debug


WatchOpt = Annotated[
    str | None,
    typer.Option(help="Drop folder (or file) defining the target data (default: raw files)."),
]
MinImprovementOpt = Annotated[
    float, typer.Option(help="Validator-score margin a candidate needs to be promoted.")
]
WaitOpt = Annotated[
    bool,
    typer.Option(help="If another gantl run holds this repo, wait for it instead of refusing."),
]


@contextmanager
def pipeline_run(
    command: str, root: Path, wait: bool = False, stages: bool = False, signals: bool = True
) -> Iterator:
    """Around a command that runs the pipeline's stages: params.yaml validated (and with
    `stages`, every stage command checked) before anything starts, the repo's run lock held,
    Prefect's temporary server started here so that it stops with the run, SIGINT/SIGTERM
    stopping the stages and the server (exit 130/143; not with `signals` False: a Dask
    LocalCluster's worker processes would inherit the blocked signals), and a failure printed
    as one line: `error: stage <name> failed (exit <n>): <its last error line>`, exit 2 for a
    user error (the stage exited 2), else 1. GANTL_DEBUG=1 (or --debug) keeps the tracebacks."""
    from flows.guard import hide_tracebacks, prefect_server, run_lock, stop_on_signals
    from gantl.config import load_params
    from tasks.processes import StageFailed

    def waiting(line: str) -> None:
        err.print(line, highlight=False, soft_wrap=True)

    try:
        load_params(Path("params.yaml"))  # before the lock, Prefect or any stage: one line
        guard = stop_on_signals(command) if signals else nullcontext({})
        with run_lock(root, wait=wait, on_wait=waiting), guard as running:
            from tasks.dvc_repair import recover_after_a_crash

            for line in recover_after_a_crash(root):  # what a killed run left behind
                err.print(f"recovered: {line}", soft_wrap=True)
            if stages:
                from tasks.dvc_stage import preflight

                preflight(root)
            with prefect_server() as running["server"]:  # the signal watcher stops it too
                if not core.debugging():
                    hide_tracebacks()  # Prefect's log handlers exist now
                yield
    except GantlError as exc:
        raise fail(exc) from None
    except StageFailed as exc:
        fail(exc)  # prints the line
        raise typer.Exit(2 if exc.returncode == 2 else 1) from None


@app.command()
def run(
    force: Annotated[
        bool, typer.Option(help="Rerun every stage even if DVC says it is up to date.")
    ] = False,
    quiet: QuietOpt = False,
    wait: WaitOpt = False,
) -> None:
    """Run the whole pipeline as a Prefect flow over the DVC stages (what `make run` does).

    The stages read params.yaml, the file DVC tracks; edit it (or copy one of configs/) first.
    One run per repository at a time (.gantl/run.lock); Ctrl-C stops the running stages.
    """
    progress.configure(quiet)
    root = Path.cwd()
    workspace_env(root / ".prefect")
    with pipeline_run("run", root, wait, stages=True):
        from flows.pipeline import pipeline  # the orchestration layer, imported only here

        summary = pipeline(root=str(root), force=force)
    print_summary(summary)


@app.command()
def recover(
    root: Annotated[Path, typer.Option(help="The pipeline repo.")] = Path("."),
) -> None:
    """Clear what a killed run left: finish an interrupted output swap, and set aside DVC's
    `.dvc/tmp/rwlock` when a DVC killed mid-write left it unreadable (`dvc repro` then fails
    with "JSON structure is corrupted"). Safe to run at any time; `gantl run` does it first."""
    from tasks.dvc_repair import recover_after_a_crash

    done = recover_after_a_crash(root)
    for line in done:
        out.print(f"recovered: {line}", soft_wrap=True)
    if not done:
        out.print("nothing to recover")


@app.command()
def retrain(
    watch: WatchOpt = None,
    force: Annotated[
        bool, typer.Option(help="Retrain even if the target data is unchanged.")
    ] = False,
    min_improvement: MinImprovementOpt = 0.0,
    quiet: QuietOpt = False,
    wait: WaitOpt = False,
) -> None:
    """Retrain once if the target data changed; promote the new model only if it scores better.

    What `gantl schedule` runs on its cron; the decision is appended to
    models/champion/registry.jsonl.
    """
    progress.configure(quiet)
    root = Path.cwd()
    workspace_env(root / ".prefect")
    with pipeline_run("retrain", root, wait):
        from flows.retrain import retrain as retrain_flow

        decision = retrain_flow(
            root=str(root), watch=watch, force=force, min_improvement=min_improvement
        )
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
    wait: WaitOpt = False,
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
    with pipeline_run("sweep", root, wait, signals=dask_workers is None):
        rows = sweep_flow.with_options(task_runner=runner)(
            root=str(root),
            methods=split_csv(methods),
            seeds=seed_list,
            sets=sets,
            prefix=prefix,
            threads=threads or default_threads(parallel),
            out=str(out),
        )
    from gantl.sweep import leaderboard_markdown

    core.wide_console().print(leaderboard_markdown(rows))


def main() -> None:  # pragma: no cover - console entry point
    """`gantl`: this app through gantl.cli's entry point (--debug; one-line errors, exit 2)."""
    core.main(app)


if __name__ == "__main__":  # pragma: no cover
    main()
