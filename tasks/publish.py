"""Prefect task: publish the evaluation summary as a table and a markdown report artifact."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact


def summary_rows(summary: dict) -> list[dict]:
    """One row per model, accuracies in percent."""
    return [
        {
            "model": model,
            "target_acc_%": round(100 * r["target_acc"], 2),
            "source_test_acc_%": round(100 * r["source_test_acc"], 2),
            "selected_by": r["selection"],
        }
        for model, r in summary["results"].items()
    ]


def summary_markdown(summary: dict) -> str:
    src, tgt = summary["source"], summary["target"]
    lines = [
        f"# {summary['protocol']}: {src['domain']} → {tgt['domain']}",
        "",
        f"Source `{src['spec']}`, target `{tgt['spec']}`, "
        f"target test n = {summary['n_target_test']}.",
        "",
        "| model | target acc | source test acc | checkpoint selected by |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| {r['model']} | {r['target_acc_%']:.2f}% | {r['source_test_acc_%']:.2f}% "
        f"| {r['selected_by']} |"
        for r in summary_rows(summary)
    ]
    lines += ["", *(f"- {note}" for note in summary.get("notes", []))]
    return "\n".join(lines) + "\n"


@task
def publish_summary(summary: dict) -> None:
    """Attach the results to the flow run (Prefect UI → Artifacts)."""
    create_table_artifact(
        key="gantl-summary",
        table=summary_rows(summary),
        description=f"{summary['protocol']}: target accuracy per model",
    )
    create_markdown_artifact(key="gantl-report", markdown=summary_markdown(summary))
