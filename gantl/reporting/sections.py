"""The page's sections. Each reads what it shows from the workspace and returns its HTML; when
its input is absent it says so in one line instead."""

from __future__ import annotations

from typing import Any

from gantl import report
from gantl.reporting import figures, inputs
from gantl.reporting.html import bullets, esc, image, note, section, tag
from gantl.reporting.workspace import Workspace
from gantl.stages.paths import LIVE, PLOTS

CURVE_STAGES = ("pretrain", "oracle", "translate", "adapt", "refine")  # pipeline order
PAD = "proxy_a_distance_mean"
HEADLINE = (  # (summary key, column): the cells a test reads back through data-metric
    ("target_acc_mean", "target acc %"),
    ("target_acc_std", "± std"),
    ("target_acc_upper_bound_mean", "upper bound† %"),
    ("source_test_acc_mean", "source test acc %"),
    (PAD, "PAD"),
)


def _metric(model: str, key: str, result: dict[str, Any]) -> str:
    """One headline number as gantl.report prints it, tagged with its model and summary key."""
    value = result.get(key)
    text = "–" if value is None else f"{value:.2f}" if key == PAD else report._pct(value)
    spread = result.get(key.replace("_mean", "_std")) if key != "target_acc_mean" else None
    title = f"± {report._pct(spread)} over seeds" if spread else None  # e.g. the upper bound's
    return tag("td", esc(text), class_="num", data_model=model, data_metric=key, title=title)


def _flags(result: dict[str, Any]) -> str:
    warned = report.flag(result)
    return tag("td", esc(f"⚠ {warned}" if warned else ""), class_="flag")


def _published_cells(ws: Workspace, model: str) -> str:
    cells = []
    for paper in ws.published.values():
        value = paper.get(model)
        cells.append(tag("td", "–" if value is None else esc(f"{value:.2f}"), class_="num pub"))
    return "".join(cells)


def _result_row(ws: Workspace, model: str, result: dict[str, Any]) -> str:
    recommended = model == ws.summary.get("recommended")
    name = esc(model) + (" ★" if recommended else "")
    cells = [tag("th", name, scope="row")]
    cells += [_metric(model, key, result) for key, _ in HEADLINE]
    cells += [tag("td", esc(result.get("selection", "–"))), _flags(result)]
    row_class = "recommended" if recommended else None
    return tag(
        "tr",
        "".join(cells) + _published_cells(ws, model),
        class_=row_class,
        data_model=model,
        data_recommended=recommended,
    )


def _published_only_rows(ws: Workspace) -> str:
    """Methods a published table reports that this run did not train."""
    shown = set(ws.results)
    extra = [m for paper in ws.published.values() for m in paper if m not in shown]
    rows = []
    for model in dict.fromkeys(extra):
        blank = tag("td", "not run here", colspan=len(HEADLINE) + 2, class_="note")
        head = tag("th", esc(model), scope="row")
        rows.append(tag("tr", head + blank + _published_cells(ws, model), class_="pub-only"))
    return "".join(rows)


def _headline_head(ws: Workspace) -> str:
    ours = len(HEADLINE) + 3
    seeds = len(ws.summary.get("seeds", []))
    group = tag("th", esc(f"this run: target test, mean over {seeds} seed(s)"), colspan=ours)
    if ws.published:
        label = "published target acc % (as printed; not this run)"
        group += tag("th", esc(label), colspan=len(ws.published), class_="pub")
    names = ["model", *(c for _, c in HEADLINE), "selected by", "flags"]
    cells = "".join(tag("th", esc(n)) for n in names)
    cells += "".join(tag("th", esc(f"published: {p}"), class_="pub") for p in ws.published)
    return tag("thead", tag("tr", group) + tag("tr", cells))


def results_section(ws: Workspace) -> str:
    """1. The headline table beside the published rows, warnings first, footnotes after."""
    alerts = list(ws.summary.get("warnings", []))
    if ws.summary.get("adaptation_failed"):
        alerts.insert(0, "adaptation failed on this pair: see the warnings")
    body = tag("div", bullets(alerts), class_="warnings") if alerts else ""
    rows = "".join(_result_row(ws, m, r) for m, r in ws.results.items())
    body += tag("table", _headline_head(ws) + tag("tbody", rows + _published_only_rows(ws)))
    body += tag("div", bullets(report.footnotes(ws.summary)), class_="footnotes")
    return section("results", "Results", body)


def accuracy_section(ws: Workspace) -> str:
    """2. Target accuracy per model: mean, spread over seeds, published markers."""
    bars = [
        figures.Bar(
            model=m,
            mean=r["target_acc_mean"],
            std=r.get("target_acc_std") or 0.0,
            per_seed=list(r.get("target_acc_per_seed", [])),
            recommended=m == ws.summary.get("recommended"),
        )
        for m, r in ws.results.items()
    ]
    if not bars:
        return section("accuracy", "Accuracy per model", note("no models were evaluated"))
    png = figures.accuracy_bars(bars, ws.published)
    return section("accuracy", "Accuracy per model", image(png, "target accuracy per model"))


def curves_section(ws: Workspace) -> str:
    """3. Per-epoch training curves of every stage and model, from the dvclive folders."""
    title = "Training curves"
    found = inputs.find_curves(ws.path(LIVE), CURVE_STAGES)
    if not found:
        return section("curves", title, note(f"no training curves ({LIVE}/ holds none yet)"))
    body = note(
        "dashed: reads target labels (a diagnostic, never what chose a checkpoint); "
        "dotted vertical: the epoch whose weights were kept"
    )
    for curves in found:
        png = figures.curves_figure(curves)
        if png is not None:
            body += image(png, f"{curves.stage} {curves.model} curves")
    return section("curves", title, body)


def embedding_section(ws: Workspace) -> str:
    """4. evaluate's t-SNE panels, beside each model's PAD: source-only (before adaptation)
    first."""
    title = "Feature embeddings (t-SNE)"
    order = sorted(ws.results, key=lambda m: m != "source_only")
    body = ""
    for model in order:
        result = ws.results[model]
        if not result.get("embedding"):
            continue
        png = inputs.read_png(ws.path(result["embedding"]))
        if png is None:
            body += note(f"{model}: {result['embedding']} not found")
            continue
        pad = result.get(PAD)
        caption = model + (" (before adaptation)" if model == "source_only" else "")
        caption += "" if pad is None else f": PAD {pad:.2f}"
        body += image(png, f"t-SNE of {model}'s features", caption)
    if not body:
        body = note("no embeddings in metrics/summary.json (evaluate writes plots/embedding/)")
    return section("embedding", title, tag("div", body, class_="grid"))


def confusion_section(ws: Workspace) -> str:
    """5. Row-normalised confusion matrices on target test (evaluate's first seed)."""
    title = "Confusion matrices (target test)"
    items = []
    for model in ws.results:
        read = inputs.read_confusion(ws.path(PLOTS / "confusion" / f"{model}.csv"))
        if read is not None:
            items.append((model, *read))
    if not items:
        return section("confusion", title, note("no confusion matrices (plots/confusion/)"))
    seeds = ws.summary.get("seeds") or ["?"]
    caption = f"seed {seeds[0]}; rows: actual class, each row sums to 1"
    return section("confusion", title, image(figures.confusion_grid(items), title, caption))
