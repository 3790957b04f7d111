"""Prefect task: publish the evaluation summary as a table and a markdown report artifact."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from gantl.report import summary_markdown, summary_rows, title


@task
def publish_summary(summary: dict) -> None:
    """Attach the comparison to the flow run (Prefect UI → Artifacts)."""
    rows = summary_rows(summary)
    create_table_artifact(key="gantl-summary", table=rows, description=title(summary))
    create_markdown_artifact(key="gantl-report", markdown=summary_markdown(summary))
