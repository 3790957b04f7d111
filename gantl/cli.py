"""The `gantl` command line: the stages dvc.yaml calls, the Prefect pipeline, data inspection."""

from __future__ import annotations

import errno
import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gantl import progress, report
from gantl.errors import ConfigError, DataError, GantlError

app = typer.Typer(
    help="GAN-based transfer learning as a versioned, reproducible pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect domains; push and pull DVC data.", no_args_is_help=True)
app.add_typer(data_app, name="data")
bench_app = typer.Typer(help="Benchmarks against the published tables.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

# What the commands print holds user text (paths, specs, class names, error messages): never
# read it as Rich markup ("[/x]" would raise) or emoji codes (":train:" would become 🚆).
PLAIN = {"markup": False, "emoji": False, "highlight": False}
out = Console(**PLAIN)
err = Console(stderr=True, **PLAIN)


def wide_console() -> Console:
    """Markdown tables print unwrapped up to 160 columns."""
    return Console(width=160, **PLAIN)


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
ThreadsOpt = Annotated[
    int | None, typer.Option(help="CPU threads per stage (default: torch's, one per core).")
]


STAGE_FUNCTIONS = {  # stage → (module in gantl/stages/, function), imported only when it runs
    "validate": ("validate", "validate"),
    "prepare": ("prepare", "prepare"),
    "pretrain": ("pretrain", "pretrain"),
    "oracle": ("pretrain", "oracle"),
    "translate": ("translate", "translate"),
    "adapt": ("adapt", "adapt"),
    "refine": ("refine", "refine"),
    "t2s": ("t2s", "t2s"),
    "evaluate": ("evaluate", "evaluate"),
    "report": ("report", "report"),
}


class StageName(StrEnum):
    validate = "validate"
    prepare = "prepare"
    pretrain = "pretrain"
    oracle = "oracle"
    translate = "translate"
    adapt = "adapt"
    refine = "refine"
    t2s = "t2s"
    evaluate = "evaluate"
    report = "report"


DEBUG_ENV = "GANTL_DEBUG"
_state = {"debug": False}  # set by the app callback: --debug (or GANTL_DEBUG=1)


def debugging() -> bool:
    """--debug was given, or GANTL_DEBUG is set to anything but 0/false/no/off."""
    env = os.environ.get(DEBUG_ENV, "").strip().lower()
    return _state["debug"] or env not in ("", "0", "false", "no", "off")


@app.callback()
def _global_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help=f"On an error, print the traceback too (also: {DEBUG_ENV}=1).",
        ),
    ] = False,
) -> None:
    _state["debug"] = debug


_ERRNO_HINTS = {  # (no EDQUOT on Windows: ENOSPC's hint, below, then wins)
    getattr(errno, "EDQUOT", errno.ENOSPC): "disk quota exceeded: free space, then rerun",
    errno.ENOSPC: "free space, then rerun",
    errno.EACCES: "check the permissions",
    errno.EPERM: "check the permissions",
    errno.EROFS: "read-only file system: write elsewhere",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "a folder where a file was expected",
    errno.EMFILE: "too many open files: raise `ulimit -n`",
    errno.EIO: "the disk reported an I/O error",
}


def user_error_types() -> tuple[type[BaseException], ...]:
    """What the entry point prints as one line: GantlError, OSError and, if PIL was imported
    (nothing else can raise it), PIL.Image.DecompressionBombError."""
    image = sys.modules.get("PIL.Image")
    bomb = getattr(image, "DecompressionBombError", None)
    return (GantlError, OSError) if bomb is None else (GantlError, OSError, bomb)


def describe(exc: BaseException) -> str:
    """The message of an error: an OSError names its file(s), the reason and the errno, e.g.
    `models/x/model.safetensors: No space left on device (errno 28: free space, then rerun)`."""
    if isinstance(exc, OSError) and not isinstance(exc, GantlError):
        files = [os.fsdecode(f) if isinstance(f, bytes) else str(f) for f in _filenames(exc)]
        reason = exc.strerror or str(exc) or type(exc).__name__
        if not files and exc.errno is None and type(exc) is not OSError:
            reason = f"{type(exc).__name__}: {reason}"  # e.g. gzip's BadGzipFile
        if exc.errno is not None:
            hint = _ERRNO_HINTS.get(exc.errno)
            reason += f" (errno {exc.errno}: {hint})" if hint else f" (errno {exc.errno})"
        return ": ".join([" → ".join(files), reason] if files else [reason])
    if type(exc).__name__ == "DecompressionBombError":
        return f"image too large to decode safely: {exc}"
    return str(exc) or type(exc).__name__


def _filenames(exc: OSError) -> list:
    return [f for f in (exc.filename, exc.filename2) if f is not None]


def print_error(message: str) -> None:
    """`error: <message>` on stderr, one line per line of the message; the message is printed
    as is (no markup, no emoji, no wrapping)."""
    for line in message.splitlines() or [""]:
        err.print(Text.assemble(("error:", "bold red"), " ", line), soft_wrap=True)


def fail(exc: BaseException) -> typer.Exit:
    """One `error:` line (after the traceback with --debug); exit status 2."""
    if debugging():
        traceback.print_exception(exc)
    print_error(describe(exc))
    return typer.Exit(2)


NprocOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Train with this many data-parallel processes (torchrun, DDP): each takes "
        "batch_size rows of every step. pretrain, oracle and adapt with dann (default: "
        "runtime.nproc).",
    ),
]


@app.command()
def stage(
    name: Annotated[StageName, typer.Argument(help="The pipeline stage to run.")],
    method: Annotated[
        str | None,
        typer.Option(
            help="Method of the adapt stage: dann, adda, cdan, or <gan>+<method> "
            "(e.g. cyclegan+adda); of the refine stage: the model to refine (or source); of "
            "the t2s stage: the model that reads target images translated back (or source)."
        ),
    ] = None,
    params_file: ParamsOpt = Path("params.yaml"),
    data_dir: DataDirOpt = None,
    quiet: QuietOpt = False,
    nproc: NprocOpt = None,
) -> None:
    """Run one pipeline stage with the paths of dvc.yaml (what `dvc repro` calls)."""
    from gantl.training import distributed

    if not distributed.launched_by_torchrun():
        processes = _processes(name, nproc, params_file, method)
        if processes > 1:
            raise typer.Exit(_launch_data_parallel(name, method, processes))
    distributed.init_from_env()
    writer = distributed.is_main()
    progress.configure(quiet or not writer)  # one process speaks: the one that writes
    from gantl.config import load_params
    from gantl.stages.paths import OUTPUTS, STAGING
    from gantl.transaction import stage_transaction

    started = time.perf_counter()
    try:
        params = load_params(params_file)
        if data_dir is not None and params.experiment.data_dir is None:
            params = params.model_copy(
                update={"experiment": params.experiment.model_copy(update={"data_dir": data_dir})}
            )
        module, function = STAGE_FUNCTIONS[name.value]
        run_stage = getattr(importlib.import_module(f"gantl.stages.{module}"), function)
        args = (params,)
        if name in (StageName.adapt, StageName.refine, StageName.t2s):
            if method is None:
                raise ConfigError(
                    f"gantl stage {name.value} needs --method (e.g. dann, adda, cdan, "
                    "cyclegan+adda; for refine and t2s also source)"
                )
            args = (params, method)
        # all outputs swap in together, or none; written by one data-parallel process only
        with stage_transaction(OUTPUTS, STAGING, commit=writer):
            result = run_stage(*args)
    except GantlError as exc:
        raise fail(exc) from None
    finally:
        distributed.shutdown()
    if not writer:
        return
    progress.record_stage_time(name.value, method, time.perf_counter() - started)
    if name is StageName.evaluate and not quiet:
        print_summary(result)


DATA_PARALLEL_STAGES = ("pretrain", "oracle", "adapt")  # adapt: DANN (or a GAN's + DANN)
DATA_PARALLEL_METHODS = ("dann", "source_only")


def _trains_data_parallel(name: StageName, method: str | None) -> bool:
    """pretrain and oracle; adapt with DANN, alone or on a GAN's translations."""
    if name is StageName.adapt:
        return (method or "").rpartition("+")[2] in DATA_PARALLEL_METHODS
    return name.value in DATA_PARALLEL_STAGES


def _processes(
    name: StageName, nproc: int | None, params_file: Path, method: str | None = None
) -> int:
    """--nproc, else params' runtime.nproc for the stages that train data-parallel."""
    if nproc is not None or not _trains_data_parallel(name, method):
        return nproc or 1
    from gantl.config import load_params

    try:
        return load_params(params_file).runtime.nproc
    except GantlError as exc:
        raise fail(exc) from None


def _launch_data_parallel(name: StageName, method: str | None, nproc: int) -> int:
    """Rerun this very `gantl stage` command under torchrun with `nproc` processes (no shell:
    the arguments pass as a list); its exit status."""
    from gantl.training.distributed import torchrun_command

    if name.value not in DATA_PARALLEL_STAGES:
        raise fail(
            ConfigError(
                "--nproc: data-parallel training runs the pretrain, oracle and adapt (DANN) "
                f"stages, not {name.value} (use --nproc 1)"
            )
        )
    if not _trains_data_parallel(name, method):
        raise fail(
            ConfigError(f"--nproc: adapt trains data-parallel with dann, not {method} (use 1)")
        )
    argv, args = [], iter(sys.argv[1:])
    for arg in args:
        if arg == "--nproc":
            next(args, None)
        elif not arg.startswith("--nproc="):
            argv.append(arg)
    return subprocess.run(torchrun_command(nproc, argv), check=False).returncode


def print_summary(summary: dict) -> None:
    """The evaluate stage's summary as a table, one row per model, that fits 80 columns."""
    table = Table(
        title=report.title(summary), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    for column in report.COLUMNS:
        table.add_column(
            report.NARROW[column],
            justify="left" if column in ("model", "selected by") else "right",
            no_wrap=column != "model",  # a long ensemble name folds; the figures never do
            overflow="fold",
        )
    for row in report.summary_rows(summary, narrow=True):
        table.add_row(*(row[c] for c in report.COLUMNS))
    out.print(table)
    for line in report.footnotes(summary):
        out.print(line, highlight=False)


@app.command("report")
def report_page(
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The page to write, one self-contained HTML file "
            "(default: reports/index.html in --root).",
        ),
    ] = None,
    params_file: ParamsOpt = Path("params.yaml"),
    root: Annotated[
        Path, typer.Option(help="The pipeline repo whose outputs the page shows.")
    ] = Path("."),
    quiet: QuietOpt = False,
) -> None:
    """Write the results page: tables, curves, embeddings, translations, champion, lineage."""
    progress.configure(quiet)
    from gantl.config import load_params
    from gantl.stages.report import report as write_report

    try:
        written = write_report(load_params(params_file), root, out_file)
    except GantlError as exc:
        raise fail(exc) from None
    if not quiet:
        out.print(f"wrote {written} ({written.stat().st_size / 1024:.0f} KB)", soft_wrap=True)


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
        raise fail(exc) from None
    h, w, c = domain.shape
    out.print(
        Text.assemble(
            (domain.name, "bold"), f" ({spec}): {h}×{w}×{c}, {len(domain.class_names)} classes"
        )
    )
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
        out.print(f"note: {note}")


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
        raise fail(exc) from None


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


def split_csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_seeds(text: str) -> list[int]:
    """--seeds "0,1,2" → [0, 1, 2]; anything else is a ConfigError naming the option."""
    try:
        return [int(s) for s in split_csv(text)]
    except ValueError:
        raise ConfigError(f"--seeds: expected comma-separated integers, got {text!r}") from None


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
        str | None,
        typer.Option(help="Overlay applied to the params: paper, or an overlay file."),
    ] = None,
    params_file: Annotated[
        Path | None,
        typer.Option("--params", help="Bench your own params file (instead of --protocol)."),
    ] = None,
    data_dir: DataDirOpt = None,
    root: Annotated[
        Path, typer.Option(help="The pipeline repo whose dvc.yaml the bench runs.")
    ] = Path("."),
    threads: ThreadsOpt = None,
    out: Annotated[
        Path, typer.Option(help="Results JSON (a .md table is written beside it).")
    ] = Path("benchmarks/results/digits.json"),
    quiet: QuietOpt = False,
) -> None:
    """Run a whole protocol over seeds; write JSON + markdown beside the published numbers."""
    progress.configure(quiet)
    from gantl.bench import protocol_params, run_bench, write_bench

    try:
        params = protocol_params(protocol, source, target, profile, params_file)
        record = run_bench(
            params,
            split_csv(methods),
            parse_seeds(seeds),
            data_dir,
            grids=out.with_suffix(""),
            root=root,
            threads=threads,
        )
    except GantlError as exc:
        raise fail(exc) from None
    markdown = write_bench(record, out)
    out_console = wide_console()
    out_console.print(markdown.read_text())
    out_console.print(f"wrote {out} and {markdown}")


@bench_app.command("shifts")
def bench_shifts(
    params_file: Annotated[
        Path, typer.Option("--params", help="The params every shift runs (a custom pair's).")
    ] = Path("configs/custom.yaml"),
    base: Annotated[
        str, typer.Option(help="The domain the shifted targets are made from.")
    ] = "usps:usps/usps.h5",
    shifts: Annotated[
        str, typer.Option(help="Comma-separated shifts (gantl.data.shifts).")
    ] = "invert,rotate,contrast_noise,thick_blur,shrink_shift",
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods.")
    ] = "source_only,dann,adda,cdan,dann+refine",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    data_dir: DataDirOpt = None,
    threads: ThreadsOpt = None,
    out: Annotated[
        Path, typer.Option(help="Results JSON (a .md table is written beside it).")
    ] = Path("benchmarks/results/shifts.json"),
    quiet: QuietOpt = False,
) -> None:
    """Shifted copies of a domain as targets: does the recipe (and the guard) carry over?"""
    progress.configure(quiet)
    from gantl.bench import protocol_params
    from gantl.bench_shifts import run_shifts, write_shifts

    try:
        params = protocol_params(None, params_file=params_file)
        suite = run_shifts(
            params,
            base,
            split_csv(shifts),
            split_csv(methods),
            parse_seeds(seeds),
            data_dir,
            threads=threads,
            on_shift=lambda suite: write_shifts(suite, out),
        )
    except GantlError as exc:
        raise fail(exc) from None
    markdown = write_shifts(suite, out)
    wide_console().print(markdown.read_text())


@bench_app.command("stargan")
def bench_stargan(
    protocol: Annotated[
        str, typer.Option(help="The protocol whose params and source every target runs with.")
    ] = "mnist5k-mnistm",
    targets: Annotated[
        str, typer.Option(help="Comma-separated target specs: one StarGAN learns them all.")
    ] = "synthetic:mnistm,usps:usps/usps.h5",
    methods: Annotated[
        str, typer.Option(help="Comma-separated: source_only, dann, adda, cdan.")
    ] = "source_only,dann",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    data_dir: DataDirOpt = None,
    threads: ThreadsOpt = None,
    out: Annotated[
        Path, typer.Option(help="Results JSON (a .md table is written beside it).")
    ] = Path("benchmarks/results/stargan-multidomain.json"),
    quiet: QuietOpt = False,
) -> None:
    """One StarGAN trained once for several targets, against one CycleGAN per pair."""
    progress.configure(quiet)
    from gantl.bench import protocol_params
    from gantl.bench_multidomain import run_multidomain, write_multidomain

    try:
        suite = run_multidomain(
            protocol_params(protocol),
            split_csv(targets),
            split_csv(methods),
            parse_seeds(seeds),
            data_dir,
            threads=threads,
            grids=out.with_suffix(""),
            on_run=lambda suite: write_multidomain(suite, out),
        )
    except GantlError as exc:
        raise fail(exc) from None
    markdown = write_multidomain(suite, out)
    wide_console().print(markdown.read_text())


@bench_app.command("validators")
def bench_validators(
    records: Annotated[
        list[Path], typer.Argument(help="Bench result JSONs (benchmarks/results/*.json).")
    ],
    out: Annotated[
        Path, typer.Option(help="Study JSON (a .md table is written beside it).")
    ] = Path("benchmarks/results/validators.json"),
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Rank every validator by how well its scores follow target-test accuracy."""
    from gantl.config import load_params
    from gantl.eval.validator_study import best_validator, study, study_markdown
    from gantl.io import write_json, write_text

    try:
        loaded = []
        for path in records:
            try:
                loaded.append(json.loads(Path(path).read_text()))
            except (OSError, json.JSONDecodeError) as exc:
                raise DataError(f"{path}: not a readable bench record: {exc}") from None
        result = study(loaded)
        if not result["protocols"]:
            raise DataError(
                "bench validators: no record holds checkpoint traces (rerun gantl bench digits)"
            )
        default = load_params(params_file).adapt.validator
    except GantlError as exc:
        raise fail(exc) from None
    result |= {"default": default, "best": best_validator(result)}
    write_json(out, result)
    markdown = out.with_suffix(".md")
    write_text(markdown, study_markdown(result, default))
    wide_console().print(markdown.read_text())


@app.command()
def profile(
    name: Annotated[
        str, typer.Argument(help="A profile in configs/profiles/ (e.g. paper) or an overlay file.")
    ],
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Write a profile's values into the params file (comments kept), so it holds what runs."""
    from gantl.profiles import apply_profile_file

    try:
        changes = apply_profile_file(params_file, name)
    except GantlError as exc:
        raise fail(exc) from None
    for line in changes or [f"{params_file} already holds profile {name}"]:
        out.print(line, highlight=False, soft_wrap=True)


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
        typer.Option(
            help="Recompute the hashes; exit 1 if anything changed since recorded or a raw "
            "file is missing."
        ),
    ] = False,
    allow_missing_raw: Annotated[
        bool,
        typer.Option(
            "--allow-missing-raw",
            help="With --verify: skip raw files that cannot be found (a note names them) "
            "instead of failing.",
        ),
    ] = False,
    root: Annotated[Path, typer.Option(help="The pipeline repo (holds dvc.lock).")] = Path("."),
) -> None:
    """Where an artifact came from: its stages, params, hashes and commit, back to raw files."""
    from gantl import lineage as lin

    try:
        doc = lin.trace(root, artifact)
        checked = lin.verify(root, doc, allow_missing_raw) if verify else None
    except GantlError as exc:
        raise fail(exc) from None
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


def main(application: typer.Typer | None = None) -> None:
    """Console entry point: run `application` (default: this module's app).

    A GantlError, OSError or PIL DecompressionBombError that escapes a command prints one line,
    `error: <message>`, and exits 2 (with --debug or GANTL_DEBUG=1, after its traceback).
    Click's own exits are kept: usage errors (2, click's message), --help, Abort; Ctrl-C exits
    130 after one line.
    """
    application = application or app
    if application.registered_callback is None:  # flows/cli.py copies commands, not callbacks
        application.registered_callback = app.registered_callback
    try:
        application(prog_name="gantl")
    except SystemExit as exc:
        if exc.code == 130 and _interrupted(exc):  # typer turns Ctrl-C into Exit(130)
            print_error("interrupted")
        raise
    except KeyboardInterrupt:  # outside click's invoke (while importing, say)
        print_error("interrupted")
        sys.exit(130)
    except Exception as exc:
        if not isinstance(exc, user_error_types()):
            raise
        sys.exit(fail(exc).exit_code)


def _interrupted(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


if __name__ == "__main__":  # pragma: no cover
    main()
