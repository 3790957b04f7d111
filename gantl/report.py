"""The results table, one row per model, as the CLI prints it and Prefect publishes it."""

from __future__ import annotations

from typing import Any

COLUMNS = ("model", "target acc", "upper bound†", "source test acc", "PAD", "selected by")
# the terminal's narrower headers, and how each checkpoint was chosen in a word or two
NARROW = dict(
    zip(COLUMNS, ("model", "target %", "bound† %", "source %", "PAD", "chosen by"), strict=True)
)
SHORT_SELECTION = {
    "source-val acc": "source val",
    "target labels (oracle)": "target labels",
    "translated-source val acc": "translated val",
    "its base model's checkpoint": "base model's",
    "the members' checkpoints": "members'",
}


def _pct(mean: float | None, std: float | None = None, sep: str = " ± ") -> str:
    if mean is None:
        return "–"
    return f"{100 * mean:.2f}" + (f"{sep}{100 * std:.2f}" if std else "")


def flag(result: dict[str, Any]) -> str:
    """What the guard found wrong with a model: "collapsed", "negative transfer" or ""."""
    if result.get("collapsed"):
        return "collapsed"
    return "negative transfer" if result.get("negative_transfer") else ""


def summary_rows(summary: dict[str, Any], narrow: bool = False) -> list[dict[str, str]]:
    """Accuracies in percent (mean ± std over seeds), PAD, and how each checkpoint was chosen.
    `narrow` (a terminal): "mean±std", a bare ⚠ after the model (the warnings below the table
    say why), and the short name of each way of choosing."""
    rows = []
    for model, r in summary["results"].items():
        warned = flag(r)
        sep = "±" if narrow else " ± "
        star = " ★" if model == summary.get("recommended") else ""
        rows.append(
            {
                "model": model + star + (" ⚠" if warned and narrow else ""),
                "target acc": _pct(r["target_acc_mean"], r["target_acc_std"], sep)
                + (f" ⚠ {warned}" if warned and not narrow else ""),
                "upper bound†": _pct(
                    r.get("target_acc_upper_bound_mean"), r.get("target_acc_upper_bound_std"), sep
                ),
                "source test acc": _pct(r["source_test_acc_mean"]),
                "PAD": _pad(r.get("proxy_a_distance_mean")),
                "selected by": _selection(r["selection"], narrow),
            }
        )
    return rows


def _pad(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _selection(how: str, narrow: bool) -> str:
    return SHORT_SELECTION.get(how, how) if narrow else how


def title(summary: dict[str, Any]) -> str:
    seeds = summary.get("seeds", [])
    return (
        f"{summary['protocol']}: {summary['source']['domain']} → {summary['target']['domain']} "
        f"(target test n={summary['n_target_test']:,}, {len(seeds)} seed(s))"
    )


def footnotes(summary: dict[str, Any]) -> list[str]:
    return [
        "† checkpoint chosen with target-val labels: an upper bound, not an honest result",
        f"★ recommended model (label-free validator '{summary.get('validator')}')",
        *(
            ["⚠ flagged by the guard (negative transfer or collapse): see the warnings"]
            if any(flag(r) for r in summary["results"].values())
            else []
        ),
        *summary.get("warnings", []),
        *(f"note: {n}" for n in summary.get("notes", [])),
    ]


def summary_markdown(summary: dict[str, Any]) -> str:
    rows = summary_rows(summary)
    lines = [
        f"# {title(summary)}",
        "",
        f"Source `{summary['source']['spec']}`, target `{summary['target']['spec']}`.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(row[c] for c in COLUMNS) + " |" for row in rows),
        "",
        *(f"- {line}" for line in footnotes(summary)),
    ]
    return "\n".join(lines) + "\n"
