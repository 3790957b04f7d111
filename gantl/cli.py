"""The `gantl` command line: the stages dvc.yaml calls, the Prefect pipeline, data inspection."""

from __future__ import annotations

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
data_app = typer.Typer(help="Inspect domains.", no_args_is_help=True)
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
    os.environ.setdefault("PREFECT_HOME", str(root / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(root / ".prefect" / "results"))
    from flows.pipeline import pipeline  # the orchestration layer, imported only for this command

    try:
        summary = pipeline(root=str(root), force=force)
    except GantlError as exc:
        raise _fail(exc) from None
    print_summary(summary)


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
        record = run_bench(params, _csv(methods), seed_list, data_dir)
    except GantlError as exc:
        raise _fail(exc) from None
    markdown = write_bench(record, out)
    out_console = Console(width=160)
    out_console.print(markdown.read_text(), highlight=False)
    out_console.print(f"wrote {out} and {markdown}", highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
