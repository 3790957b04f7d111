"""The `gantl` command line: the stages dvc.yaml calls, the Prefect pipeline, data inspection."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gantl import progress, report
from gantl.errors import ConfigError, GantlError

app = typer.Typer(
    help="GAN-based transfer learning as a versioned, reproducible pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect domains; push and pull DVC data.", no_args_is_help=True)
app.add_typer(data_app, name="data")
bench_app = typer.Typer(help="Benchmarks against the published tables.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

out = Console()
err = Console(stderr=True)

ParamsOpt = Annotated[
    Path, typer.Option("--params", "-p", help="Params file (the one dvc.yaml tracks).")
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="GANTL_DATA_DIR",
        help="Where relative domain paths resolve (default: experiment.data_dir, else cwd).",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or info logs.")]


class StageName(StrEnum):
    prepare = "prepare"
    pretrain = "pretrain"
    oracle = "oracle"
    translate = "translate"
    adapt = "adapt"
    evaluate = "evaluate"


def _fail(exc: GantlError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


@app.command()
def stage(
    name: Annotated[StageName, typer.Argument(help="The pipeline stage to run.")],
    method: Annotated[
        str | None,
        typer.Option(
            help="Method of the adapt stage: dann, adda, or <gan>+<method> (e.g. cyclegan+adda)."
        ),
    ] = None,
    params_file: ParamsOpt = Path("params.yaml"),
    data_dir: DataDirOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run one pipeline stage with the paths of dvc.yaml (what `dvc repro` calls)."""
    progress.configure(quiet)
    from gantl import stages
    from gantl.config import load_params

    try:
        params = load_params(params_file)
        if data_dir is not None and params.experiment.data_dir is None:
            params = params.model_copy(
                update={"experiment": params.experiment.model_copy(update={"data_dir": data_dir})}
            )
        if name is StageName.adapt:
            if method is None:
                raise ConfigError(
                    "gantl stage adapt needs --method (e.g. dann, adda, cyclegan+adda)"
                )
            result = stages.adapt(params, method)
        else:
            result = stages.STAGES[name.value](params)
    except GantlError as exc:
        raise _fail(exc) from None
    if name is StageName.evaluate and not quiet:
        print_summary(result)


def print_summary(summary: dict) -> None:
    """The evaluate stage's summary as a table: one row per model."""
    table = Table(title=report.title(summary))
    for column in report.COLUMNS:
        table.add_column(
            column,
            justify="left" if column in ("model", "selected by") else "right",
            no_wrap=column == "model",
        )
    for row in report.summary_rows(summary):
        table.add_row(*(row[c] for c in report.COLUMNS))
    out.print(table)
    for line in report.footnotes(summary):
        out.print(line, highlight=False)


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
    _prefect_env(root)
    from flows.pipeline import pipeline  # the orchestration layer, imported only for this command

    try:
        summary = pipeline(root=str(root), force=force)
    except GantlError as exc:
        raise _fail(exc) from None
    print_summary(summary)


@app.command()
def retrain(
    watch: Annotated[
        str | None,
        typer.Option(help="Drop folder (or file) defining the target data (default: raw files)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Retrain even if the target data is unchanged.")
    ] = False,
    min_improvement: Annotated[
        float, typer.Option(help="Validator-score margin a candidate needs to be promoted.")
    ] = 0.0,
    quiet: QuietOpt = False,
) -> None:
    """Retrain once if the target data changed; promote the new model only if it scores better.

    What `gantl schedule` runs on its cron; the decision is appended to
    models/champion/registry.jsonl.
    """
    progress.configure(quiet)
    root = Path.cwd()
    _prefect_env(root)
    from flows.retrain import retrain as retrain_flow

    try:
        decision = retrain_flow(
            root=str(root), watch=watch, force=force, min_improvement=min_improvement
        )
    except GantlError as exc:
        raise _fail(exc) from None
    verdict = "promoted" if decision["promoted"] else "champion kept"
    out.print(f"{verdict}: {decision['reason']}", highlight=False, soft_wrap=True)


def _prefect_env(root: Path) -> None:
    """Prefect's state inside the workspace, offline, unless the environment says otherwise."""
    os.environ.setdefault("PREFECT_HOME", str(root / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(root / ".prefect" / "results"))


@app.command()
def schedule(
    cron: Annotated[str, typer.Option(help='Cron expression, e.g. "0 3 * * *" (03:00 daily).')],
    name: Annotated[str, typer.Option(help="Deployment name: gantl-retrain/<name>.")] = "nightly",
    watch: Annotated[
        str | None,
        typer.Option(help="Drop folder (or file) defining the target data (default: raw files)."),
    ] = None,
    min_improvement: Annotated[
        float, typer.Option(help="Validator-score margin a candidate needs to be promoted.")
    ] = 0.0,
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
    _prefect_env(root)
    if not os.environ.get("PREFECT_API_URL"):
        err.print(
            "warning: PREFECT_API_URL is not set: the schedule lives in a temporary server "
            "that stops with this process (start `prefect server start` and export its URL)",
            highlight=False,
        )
    from flows.schedule import FLOW_NAME, deploy_retrain, serve_retrain

    try:
        from prefect.schedules import Cron

        Cron(cron, timezone=timezone)
    except ValueError as exc:
        raise _fail(ConfigError(f"--cron/--timezone: {exc}")) from None
    if pool is None:
        out.print(f"serving {FLOW_NAME}/{name} on '{cron}' ({timezone}); Ctrl-C stops")
        serve_retrain(cron, name, root, watch, min_improvement, timezone)
    else:
        deployment = deploy_retrain(
            cron, pool, name, root, source, watch, min_improvement, timezone
        )
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
    _prefect_env(root)
    from gantl.sweep import parse_set

    try:
        seed_list = [int(s) for s in _csv(seeds)]
    except ValueError:
        raise _fail(
            ConfigError(f"--seeds: expected comma-separated integers, got {seeds!r}")
        ) from None
    try:
        sets = dict(parse_set(s) for s in set_ or [])
    except GantlError as exc:
        raise _fail(exc) from None
    from flows.sweep import default_threads, task_runner
    from flows.sweep import sweep as sweep_flow

    parallel = dask_workers or jobs
    runner = task_runner(dask_address, dask_workers, jobs, root / ".gantl" / "dask")
    try:
        rows = sweep_flow.with_options(task_runner=runner)(
            root=str(root), methods=_csv(methods), seeds=seed_list, sets=sets, prefix=prefix,
            threads=threads or default_threads(parallel), out=str(out),
        )  # fmt: skip
    except GantlError as exc:
        raise _fail(exc) from None
    from gantl.sweep import leaderboard_markdown

    Console(width=160).print(leaderboard_markdown(rows), highlight=False)


@data_app.command("show")
def data_show(
    spec: Annotated[
        str, typer.Argument(help="Domain spec, e.g. bundled:mnist5k, usps:usps/usps.h5")
    ],
    data_dir: DataDirOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of bundled shuffles / MNIST-M.")] = 0,
) -> None:
    """Counts, image shape and class balance of a domain."""
    from gantl.data.specs import load_domain

    try:
        domain = load_domain(spec, data_dir, seed=seed)
    except GantlError as exc:
        raise _fail(exc) from None
    h, w, c = domain.shape
    out.print(f"[bold]{domain.name}[/] ({spec}): {h}×{w}×{c}, {len(domain.class_names)} classes")
    table = Table("class", *(f"{s} images" for s in domain.splits))
    for k, name in enumerate(domain.class_names):
        cells = [
            "–" if split.labels is None else f"{int((split.labels == k).sum()):,}"
            for split in domain.splits.values()
        ]
        table.add_row(name, *cells)
    table.add_section()
    table.add_row("all", *(f"{len(split):,}" for split in domain.splits.values()))
    out.print(table)
    for note in domain.notes:
        out.print(f"note: {note}", highlight=False)


RemoteOpt = Annotated[
    str | None,
    typer.Option(help="DVC remote name (default: core.remote in .dvc/config, i.e. 'storage')."),
]
RootOpt = Annotated[Path, typer.Option(help="The pipeline repo (default: the current directory).")]
TargetsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Stages or paths (e.g. prepare, models/source); default: everything."),
]


def _transfer(action: str, targets: list[str] | None, remote: str | None, root: Path) -> None:
    from gantl.remote import transfer

    try:
        transfer(action, root, remote, targets or ())
    except GantlError as exc:
        raise _fail(exc) from None


@data_app.command("push")
def data_push(
    targets: TargetsArg = None, remote: RemoteOpt = None, root: RootOpt = Path(".")
) -> None:
    """Upload the DVC-cached outputs (data/, models/) to the remote (`dvc push`)."""
    _transfer("push", targets, remote, root)


@data_app.command("pull")
def data_pull(
    targets: TargetsArg = None, remote: RemoteOpt = None, root: RootOpt = Path(".")
) -> None:
    """Download the outputs dvc.lock names from the remote into the workspace (`dvc pull`)."""
    _transfer("pull", targets, remote, root)


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@bench_app.command("digits")
def bench_digits(
    protocol: Annotated[
        str | None,
        typer.Option(help="mnist-usps-adda, usps-mnist-adda, usps-mnist-full, mnist5k-mnistm"),
    ] = None,
    source: Annotated[str | None, typer.Option(help="Custom source spec (with --target).")] = None,
    target: Annotated[str | None, typer.Option(help="Custom target spec (with --source).")] = None,
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods.")
    ] = "source_only,dann,adda",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    profile: Annotated[
        str | None, typer.Option(help="quick or paper (default: the file's).")
    ] = None,
    data_dir: DataDirOpt = None,
    out: Annotated[
        Path, typer.Option(help="Results JSON (a .md table is written beside it).")
    ] = Path("benchmarks/results/digits.json"),
    quiet: QuietOpt = False,
) -> None:
    """Run a whole protocol over seeds; write JSON + markdown beside the published numbers."""
    progress.configure(quiet)
    from gantl.bench import protocol_params, run_bench, write_bench

    try:
        seed_list = [int(s) for s in _csv(seeds)]
    except ValueError:
        raise _fail(
            ConfigError(f"--seeds: expected comma-separated integers, got {seeds!r}")
        ) from None
    try:
        params = protocol_params(protocol, source, target, profile)
        record = run_bench(params, _csv(methods), seed_list, data_dir, grids=out.with_suffix(""))
    except GantlError as exc:
        raise _fail(exc) from None
    markdown = write_bench(record, out)
    out_console = Console(width=160)
    out_console.print(markdown.read_text(), highlight=False)
    out_console.print(f"wrote {out} and {markdown}", highlight=False)


@app.command()
def lineage(
    artifact: Annotated[
        str,
        typer.Argument(
            help="A path in the repo (relative to --root): a model dir or file, a Parquet "
            "split, metrics, a plot, or models/champion."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of the tree.")
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(help="Recompute the hashes; exit 1 if anything changed since recorded."),
    ] = False,
    root: Annotated[Path, typer.Option(help="The pipeline repo (holds dvc.lock).")] = Path("."),
) -> None:
    """Where an artifact came from: its stages, params, hashes and commit, back to raw files."""
    from gantl import lineage as lin

    try:
        doc = lin.trace(root, artifact)
        checked = lin.verify(root, doc) if verify else None
    except GantlError as exc:
        raise _fail(exc) from None
    if checked is not None:
        doc["verify"] = checked.as_dict()
    if as_json:
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        out.print(lin.tree(doc))
        for line in lin.report_lines(checked) if checked is not None else []:
            out.print(line, soft_wrap=True)
    if checked is not None and not checked.ok:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
