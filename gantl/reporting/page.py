"""The whole document: one HTML file with its CSS inline, no scripts and no external files."""

from __future__ import annotations

import re
from collections.abc import Callable

from gantl import report
from gantl.reporting import records, sections
from gantl.reporting.html import esc, tag
from gantl.reporting.workspace import Workspace

SECTIONS: tuple[tuple[str, str, Callable[[Workspace], str]], ...] = (  # (anchor, link, maker)
    ("results", "results", sections.results_section),
    ("accuracy", "accuracy", sections.accuracy_section),
    ("curves", "training curves", sections.curves_section),
    ("embedding", "t-SNE", sections.embedding_section),
    ("confusion", "confusion", sections.confusion_section),
    ("translation", "translation", records.translation_section),
    ("champion", "champion", records.champion_section),
    ("lineage", "lineage", records.lineage_section),
)

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 1.5em auto; padding: 0 1em; }
h1 { font-size: 1.45em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.meta, .note, figcaption { color: #555; } .note { font-style: italic; }
nav a { margin-right: .9em; color: #2457a6; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { padding: .25em .6em; border-bottom: 1px solid #e3e3e3; text-align: left;
         vertical-align: top; }
thead th { background: #f3f4f6; } td.num { text-align: right;
           font-variant-numeric: tabular-nums; white-space: nowrap; }
.pub { background: #f1f5fb; color: #3d4f6b; } tr.pub-only th { color: #3d4f6b; }
tr.recommended { background: #fff4cc; font-weight: 600; }
td.flag { color: #b3261e; font-weight: 600; white-space: nowrap; }
.warnings { border-left: 5px solid #b3261e; background: #fdecea; padding: .3em 1em;
            font-weight: 600; }
.footnotes { font-size: .88em; color: #444; }
img { max-width: 100%; height: auto; } figure { margin: .6em 0; }
img.pixels { image-rendering: pixelated; } code { font-size: .95em; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; } .grid figure { flex: 1 1 420px; }
table.kv th:first-child, table.kv td:first-child { color: #555; }
"""


def header(ws: Workspace) -> str:
    """The title and what the results are: protocol, domains, seeds, validator. No date: the
    same inputs make the same page, byte for byte (the lineage section names the commit)."""
    s = ws.summary
    seeds = ", ".join(str(seed) for seed in s.get("seeds", []))
    parts = [
        f"protocol {s['protocol']}",
        f"source {s['source'].get('spec', s['source'].get('domain'))}",
        f"target {s['target'].get('spec', s['target'].get('domain'))}",
        f"seeds {seeds}",
        f"validator {s.get('validator')}",
    ]
    links = "".join(tag("a", esc(label), href=f"#{anchor}") for anchor, label, _ in SECTIONS)
    return (
        tag("h1", esc(report.title(s)))
        + tag("p", esc(" · ".join(parts)), class_="meta")
        + tag("nav", links)
    )


def document(ws: Workspace) -> str:
    """The page: header, then every section in order."""
    body = header(ws)
    body += "".join(make(ws) for _, _, make in SECTIONS)
    head = (
        '<meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        + tag("title", esc(report.title(ws.summary)))
        + tag("style", CSS)
    )
    return f'<!DOCTYPE html>\n<html lang="en">\n{tag("head", head)}\n{tag("body", body)}\n</html>\n'


# a headline cell as html.py writes it: <td … data-model="adda" data-metric="target_acc_mean">
_HEADLINE = re.compile(r'<td[^>]*data-model="([^"]+)" data-metric="([^"]+)">([^<]*)<')


def headline_figures(page: str) -> list[tuple[str, str, str]]:
    """(model, metric, shown value) of each headline cell of a page, in page order: what two
    runs' pages must agree on, while their commit, dvc.lock hash and seconds may differ."""
    return _HEADLINE.findall(page)
