"""Prefect tasks: publish the evaluation summary and the translator's image grid as artifacts."""

from __future__ import annotations

import base64
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from gantl.report import summary_markdown, summary_rows, title


@task
def publish_summary(summary: dict) -> None:
    """Attach the comparison to the flow run (Prefect UI → Artifacts)."""
    rows = summary_rows(summary)
    create_table_artifact(key="gantl-summary", table=rows, description=title(summary))
    create_markdown_artifact(key="gantl-report", markdown=summary_markdown(summary))


@task
def publish_translation(translate: dict, grid: Path) -> None:
    """The translator's FID / KID / label preservation, with its grid inlined as a PNG."""
    before = translate["untranslated"]
    lines = [
        f"## {translate['gan']}: source | translated | reconstructed | real target",
        "",
        f"![grid](data:image/png;base64,{base64.b64encode(grid.read_bytes()).decode()})",
        "",
        "| | FID | KID | label preservation |",
        "|---|---|---|---|",
        f"| translated | {translate['fid']:.2f} | {translate['kid']:.4f} "
        f"| {100 * translate['label_preservation']:.1f}% |",
        f"| untranslated source | {before['fid']:.2f} | {before['kid']:.4f} "
        f"| {100 * before['label_preservation']:.1f}% |",
        "",
        f"Judged on {translate['judge']}, {translate['n_images']} images.",
    ]
    create_markdown_artifact(key="gantl-translation", markdown="\n".join(lines))
