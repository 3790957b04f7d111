"""The results table, one row per model, as the CLI prints it and Prefect publishes it."""

from __future__ import annotations

from typing import Any

COLUMNS = ("model", "target acc", "upper bound†", "source test acc", "PAD", "selected by")


def _pct(mean: float | None, std: float | None = None) -> str:
    if mean is None:
        return "–"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std else "")


def summary_rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    """Accuracies in percent (mean ± std over seeds), PAD, and how each checkpoint was chosen."""
    rows = []
    for model, r in summary["results"].items():
        flag = (
            " ⚠ collapsed"
            if r.get("collapsed")
            else " ⚠ negative transfer"
            if r.get("negative_transfer")
            else ""
        )
        pad = r.get("proxy_a_distance_mean")
        rows.append(
            {
                "model": model + (" ★" if model == summary.get("recommended") else ""),
                "target acc": _pct(r["target_acc_mean"], r["target_acc_std"]) + flag,
                "upper bound†": _pct(
                    r.get("target_acc_upper_bound_mean"), r.get("target_acc_upper_bound_std")
                ),
                "source test acc": _pct(r["source_test_acc_mean"]),
                "PAD": "–" if pad is None else f"{pad:.2f}",
                "selected by": r["selection"],
            }
        )
    return rows


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
