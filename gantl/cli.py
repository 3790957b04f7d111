"""The `gantl` command line: the stages dvc.yaml calls, the Prefect pipeline, data inspection."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gantl import progress
from gantl.errors import GantlError

app = typer.Typer(
    help="GAN-based transfer learning as a versioned, reproducible pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect domains.", no_args_is_help=True)
app.add_typer(data_app, name="data")

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
    evaluate = "evaluate"


def _fail(exc: GantlError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


@app.command()
def stage(
    name: Annotated[StageName, typer.Argument(help="The pipeline stage to run.")],
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
        result = stages.STAGES[name.value](params)
    except GantlError as exc:
        raise _fail(exc) from None
    if name is StageName.evaluate and not quiet:
        print_summary(result)


def print_summary(summary: dict) -> None:
    """The evaluate stage's summary as a table: one row per model."""
    src, tgt = summary["source"]["domain"], summary["target"]["domain"]
    table = Table(
        title=f"{summary['protocol']}: {src} → {tgt} (target test n={summary['n_target_test']:,})"
    )
    table.add_column("model")
    table.add_column("target acc", justify="right")
    table.add_column("source test acc", justify="right")
    table.add_column("checkpoint selected by")
    for model, r in summary["results"].items():
        table.add_row(
            model,
            f"{100 * r['target_acc']:.2f}%",
            f"{100 * r['source_test_acc']:.2f}%",
            r["selection"],
        )
    out.print(table)
    for note in summary.get("notes", []):
        out.print(f"note: {note}", highlight=False)


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


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
