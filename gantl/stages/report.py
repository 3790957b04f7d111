"""The report stage: reports/index.html, one self-contained page a person reads.

It reads what the other stages wrote — metrics/summary.json (required), the dvclive curves
under plots/live/, evaluate's confusion CSVs and t-SNE panels, the translator's grid, curves and
metrics, the champion record and the prepared data's metadata — and trains or scores nothing.
Figures are inlined as base64 PNGs; a section whose input is absent says so in one line.
"""

from __future__ import annotations

import logging
from pathlib import Path

from gantl.config import Params
from gantl.io import atomic_path
from gantl.reporting import page
from gantl.reporting.inputs import load_summary
from gantl.reporting.workspace import Workspace
from gantl.stages.paths import METRICS, REPORT_PAGE

log = logging.getLogger("gantl")


def build_page(params: Params | None, root: Path = Path(".")) -> str:
    """The page's HTML for the pipeline repo at `root`; a DataError if its
    metrics/summary.json is missing or is no evaluate summary."""
    path = Path(root) / METRICS / "summary.json"
    summary = load_summary(path)
    return page.document(Workspace(Path(root), summary, params))


def report(params: Params | None, root: Path = Path("."), out: Path | None = None) -> Path:
    """Write the page (default: <root>/reports/index.html) atomically; return its path."""
    out = Path(root) / REPORT_PAGE if out is None else Path(out)
    data = build_page(params, root).encode("utf-8")
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    log.info("report: wrote %s (%.0f KB)", out, len(data) / 1024)
    return out
