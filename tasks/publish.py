"""Prefect tasks: publish the evaluation summary, the translator's image grid and a link to the
report page as artifacts."""

from __future__ import annotations

import base64
import csv
from pathlib import Path

from prefect import task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from gantl.report import summary_markdown, summary_rows, title


@task
def publish_summary(summary: dict) -> None:
    """Attach the comparison to the flow run (Prefect UI → Artifacts)."""
    rows = summary_rows(summary)
    create_table_artifact(key="gantl-summary", table=rows, description=title(summary))
    create_markdown_artifact(key="gantl-report", markdown=summary_markdown(summary))


@task
def publish_report_page(page: Path) -> None:
    """A link to the run's self-contained report page (reports/index.html), beside the table."""
    page = Path(page).resolve()
    create_link_artifact(
        key="gantl-report-page",
        link=page.as_uri(),
        link_text=f"report page ({page.stat().st_size / 1e6:.2f} MB, opens offline)",
        description="Headline table, curves, t-SNE, confusion matrices, translation, lineage",
    )


@task
def publish_translation(translate: dict, grid: Path, history: Path) -> None:
    """The translator's FID / KID / label preservation, with its grid inlined as a PNG and its
    per-epoch curves as a table."""
    before = translate["untranslated"]
    lines = [
        f"## {translate['gan']}: source | translated | reconstructed (two-way) | real target",
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
        "",
        *_epoch_table(history, translate["epoch"]),
    ]
    create_markdown_artifact(key="gantl-translation", markdown="\n".join(lines))


def _epoch_table(history: Path, kept: int) -> list[str]:
    """The per-epoch curves (plots/translate/<gan>.csv) as a table, the kept epoch in bold."""
    if not history.is_file():
        return []
    rows = list(csv.DictReader(history.read_text().splitlines()))
    lines = [
        "| epoch | FID (oracle) | label preservation (oracle) | FID (source model) "
        "| FID (domain judge) | source-model agreement | label-free score |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        epoch = f"**{r['epoch']}** (kept)" if int(float(r["epoch"])) == kept else r["epoch"]
        judge = f"{float(r['dom_fid']):.2f}" if r.get("dom_fid") else "–"
        lines.append(
            f"| {epoch} | {float(r['fid']):.2f} | {100 * float(r['label_preservation']):.1f}% "
            f"| {float(r['src_fid']):.2f} | {judge} | {100 * float(r['src_agreement']):.1f}% "
            f"| {float(r['label_free_score']):.3f} |"
        )
    return lines
