"""`gantl bench shifts`: the whole method table on shifts of our own making.

Each shift of gantl.data.shifts turns the base domain (USPS by default) into an NPZ target;
the source stays as the params name it (MNIST). Every pair runs through `run_bench` with the
same params (configs/custom.yaml: the recipe a custom pair gets, `epochs: auto`), so the table
shows what a user would get on a pair nobody tuned for, and whether the collapse guard's
recommendation ever falls below source-only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gantl.bench import run_bench, write_bench
from gantl.config import Params, params_from_dict
from gantl.data.shifts import SHIFTS, describe, write_shift
from gantl.data.specs import load_domain
from gantl.errors import ConfigError

GUARD_TOLERANCE = 0.01  # the recommended model may trail source-only by at most 1 point


def run_shifts(
    params: Params,
    base: str,
    shifts: list[str],
    methods: list[str],
    seeds: list[int],
    data_dir: Path | None = None,
    workdir: Path | None = None,
    threads: int | None = None,
    on_shift: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """One bench per shift of `base`, as target of `params.experiment.source`; `on_shift` gets
    the suite so far after each one (a long suite keeps what it has finished)."""
    unknown = sorted(set(shifts) - set(SHIFTS))
    if unknown:
        raise ConfigError(f"bench shifts: unknown shift(s) {unknown}; expected {sorted(SHIFTS)}")
    domain = load_domain(base, data_dir or params.experiment.data_dir, params.prepare.seed)
    records: dict[str, Any] = {}
    suite = {"base": base, "source": params.experiment.source, "shifts": records}
    with tempfile.TemporaryDirectory(prefix="gantl-shifts-", dir=workdir) as tmp:
        for name in shifts:
            npz = write_shift(domain, name, Path(tmp) / f"{domain.name}-{name}.npz")
            raw = params.model_dump(mode="json")
            raw["experiment"] |= {
                "target": f"npz:{npz}",
                "protocol": f"{params.experiment.protocol}+{name}",
            }
            record = run_bench(
                params_from_dict(raw, f"shift {name}"),
                methods,
                seeds,
                data_dir,
                workdir=workdir,
                threads=threads,
            )
            record["shift"] = {"name": name, "base": base, "description": describe(name)}
            records[name] = record
            if on_shift is not None:
                on_shift(suite)
    return suite


def guard_holds(record: dict[str, Any]) -> bool:
    """Whether the recommended model scores within 1 point of source-only (or above it)."""
    results = record["results"]
    chosen = results[record["recommended"]]["target_acc_mean"]
    return chosen >= results["source_only"]["target_acc_mean"] - GUARD_TOLERANCE


def shifts_markdown(suite: dict[str, Any]) -> str:
    """One row per shift: every method's accuracy, the ★ recommendation and the guard check."""
    records = suite["shifts"]
    methods = list(dict.fromkeys(m for r in records.values() for m in r["results"]))
    methods = [m for m in methods if m != "oracle"] + ["oracle"]
    lines = [
        f"# Shifts of {suite['base']} as targets of {suite['source']}",
        "",
        "Target test accuracy (%), checkpoints chosen by the label-free validator; "
        "★ the model the report recommends (collapse guard applied); ✗ a model the guard flagged",
        "(collapsed, or diverged from its reference). `guard ok`: the recommendation scores at",
        "least source-only − 1 point. oracle: trained on target labels.",
        "",
        "| shift | " + " | ".join(methods) + " | recommended | guard ok | minutes |",
        "|---|" + "---:|" * len(methods) + "---|---|---:|",
    ]
    for name, r in records.items():
        cells = []
        for m in methods:
            res = r["results"].get(m)
            mark = " ★" if m == r["recommended"] else ""
            mark += " ✗" if res is not None and res.get("collapsed") else ""
            cells.append("" if res is None else f"{100 * res['target_acc_mean']:.1f}{mark}")
        failed = " (adaptation failed)" if r["adaptation_failed"] else ""
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {r['recommended']}{failed} "
            f"| {'yes' if guard_holds(r) else '**no**'} | {r['total_seconds'] / 60:.1f} |"
        )
    lines += ["", *(f"- `{n}`: {r['shift']['description']}" for n, r in records.items())]
    first = next(iter(records.values()), None)
    commits = {r["commit"] for r in records.values()}
    if first is not None and len(commits) == 1:
        lines += ["", f"Seeds {first['seeds']}, commit `{first['commit']}`."]
    elif first is not None:  # a suite merged from runs at several commits
        per_shift = ", ".join(f"{n} `{str(r['commit'])[:7]}`" for n, r in records.items())
        lines += ["", f"Seeds {first['seeds']}; commit per shift: {per_shift}."]
    return "\n".join(lines) + "\n"


def write_shifts(suite: dict[str, Any], out: Path) -> Path:
    """`out` (JSON) and the shifts table beside it (.md)."""
    return write_bench(suite, out, shifts_markdown)
