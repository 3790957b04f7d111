"""The report's figures as PNG bytes, drawn with matplotlib's object API (no pyplot: no display,
no global figure state). Small and at a modest dpi, so the page stays light."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gantl.config import VALIDATORS
from gantl.reporting.inputs import Curves

DPI = 100
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
BAR, HIGHLIGHT = "#9db4cf", "#e8a317"  # bars; the recommended model's
MARKERS = "DsP^vX"  # one per published table
# wall time, schedules (learning rate, DANN's λ_p) and bookkeeping are no training curves
NOT_CURVES = frozenset({"seconds", "lr", "lambda", "epoch", "step", "kept", "kept_epoch"})
# the translator's figures on the oracle's features read target labels (gantl.stages.translate)
TRANSLATE_USES_LABELS = frozenset({"fid", "kid", "label_preservation"})


@dataclass(frozen=True)
class Line:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    dashed: bool = False  # dashed: the curve reads target labels (a diagnostic)
    color: int = 0  # palette index: one colour per metric, shared by its seeds


@dataclass(frozen=True)
class Panel:
    title: str
    lines: list[Line]
    marks: list[float] = field(default_factory=list)  # x of dotted verticals: kept epochs


@dataclass(frozen=True)
class Bar:
    """One model's target accuracy (fractions): mean ± std over seeds, and each seed's."""

    model: str
    mean: float
    std: float
    per_seed: list[float]
    recommended: bool = False


def margins(fig: Figure, left: float, right: float, bottom: float, top: float, **gaps: float):
    """Fixed margins in inches (a layout engine costs more than the drawing here)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h, **gaps
    )


def png(fig: Figure) -> bytes:
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def line_panels(title: str, panels: list[Panel]) -> bytes:
    """Small multiples side by side, one legend each; dashed lines read target labels."""
    fig = Figure(figsize=(3.2 * len(panels), 2.6))
    margins(fig, 0.5, 0.15, 0.45, 0.55, wspace=0.3)
    for ax, panel in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        labelled = set()
        for line in panel.lines:
            ax.plot(
                line.x,
                line.y,
                color=PALETTE[line.color % len(PALETTE)],
                linestyle="--" if line.dashed else "-",
                linewidth=1.2,
                marker="." if len(line.x) <= 12 else None,
                label=None if line.label in labelled else line.label,
            )
            labelled.add(line.label)
        for x in sorted(set(panel.marks)):
            ax.axvline(x, color="#777", linestyle=":", linewidth=1)
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        epochs = sorted({x for line in panel.lines for x in line.x})
        if len(epochs) <= 12:
            ax.set_xticks(epochs, [f"{x:g}" for x in epochs])
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, frameon=False)
    fig.suptitle(title, fontsize=10)
    return png(fig)


def metric_group(metric: str) -> str | None:
    """Which panel a training curve goes to (None: not drawn)."""
    name = metric.lower()
    if name in NOT_CURVES:
        return None
    if "kid" in name:
        return "KID"
    if "fid" in name or name.endswith("_l1"):
        return "distances"
    if "acc" in name or "agreement" in name or "preservation" in name:
        return "accuracies"
    if name in VALIDATORS or "score" in name:
        return "validator scores"
    return "losses"


def curves_figure(curves: Curves) -> bytes | None:
    """One stage/model's curves: losses, accuracies, validator scores and distances in their
    own panels, every seed's line in its metric's colour; dotted: the kept epoch."""
    groups: dict[str, list[Line]] = {}
    colors: dict[str, int] = {}
    for series_by_metric in curves.runs.values():
        for metric, s in sorted(series_by_metric.items()):
            group = metric_group(metric)
            if group is None:
                continue
            color = colors.setdefault(metric, len(colors))
            label = f"{metric} (uses target labels)" if s.uses_labels else metric
            groups.setdefault(group, []).append(
                Line(label, s.steps, s.values, s.uses_labels, color)
            )
    if not groups:
        return None
    order = ("losses", "accuracies", "validator scores", "distances", "KID")
    marks = list(curves.kept.values())
    panels = [Panel(g, groups[g], marks) for g in order if g in groups]
    seeds = f", {len(curves.runs)} seeds (one line each)" if len(curves.runs) > 1 else ""
    return line_panels(f"{curves.stage}: {curves.model}{seeds}", panels)


def translation_figure(gan: str, rows: list[dict[str, float]]) -> bytes | None:
    """The translator per epoch: distances to the target images, then the labels its
    translations keep and the label-free score; dotted: the kept epoch."""
    epochs = [r["epoch"] for r in rows]
    keys = [k for k in rows[0] if k not in NOT_CURVES]
    groups: dict[str, list[Line]] = {}
    for color, key in enumerate(keys):
        group = metric_group(key)
        title = {"distances": "distance to target", "KID": "KID"}.get(group, "labels kept, score")
        title = "cycle L1" if key == "cycle_l1" else title
        dashed = key in TRANSLATE_USES_LABELS
        label = f"{key} (uses target labels)" if dashed else key
        x, y = zip(*((r["epoch"], r[key]) for r in rows if key in r), strict=True)
        groups.setdefault(title, []).append(Line(label, x, y, dashed, color))
    if not groups:
        return None
    marks = [r["epoch"] for r in rows if r.get("kept") == 1] or [epochs[-1]]
    return line_panels(f"{gan} per epoch", [Panel(t, ls, marks) for t, ls in groups.items()])


def accuracy_bars(bars: list[Bar], published: dict[str, dict[str, float]]) -> bytes:
    """Target accuracy per model: bar = mean, whisker = std, dots = seeds; hollow markers: the
    published tables' numbers for the same method."""
    labels = [b.model + (" (recommended)" if b.recommended else "") for b in bars]
    legend_rows = math.ceil((1 + len(published)) / 2)
    fig = Figure(figsize=(7.2, 0.4 * len(bars) + 0.6 + 0.2 * legend_rows))
    left = 0.2 + 0.065 * max(len(label) for label in labels)  # room for the model names
    margins(fig, left, 0.2, 0.45 + 0.2 * legend_rows, 0.1)
    ax = fig.subplots()
    y = np.arange(len(bars))
    means = [100 * b.mean for b in bars]
    colors = [HIGHLIGHT if b.recommended else BAR for b in bars]
    ax.barh(y, means, xerr=[100 * b.std for b in bars], color=colors, height=0.6, capsize=3)
    for i, b in enumerate(bars):
        xs = [100 * v for v in b.per_seed]
        ax.scatter(
            xs, [i] * len(xs), s=9, color="black", zorder=3, label="seed" if i == 0 else None
        )
    for k, (paper, accuracies) in enumerate(published.items()):
        points = [(accuracies[b.model], i) for i, b in enumerate(bars) if b.model in accuracies]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.scatter(
                *(xs, ys),
                marker=MARKERS[k % len(MARKERS)],
                facecolors="none",
                edgecolors=PALETTE[(k + 1) % len(PALETTE)],
                s=42,
                zorder=4,
                label=f"published: {paper}",
            )
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("target test accuracy (%)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="lower center", ncols=2, fontsize=7, frameon=False)
    return png(fig)


def confusion_grid(items: list[tuple[str, list[str], list[list[int]]]]) -> bytes:
    """Row-normalised confusion matrices (rows: actual class), one small panel per model."""
    cols = min(len(items), 4)
    rows = math.ceil(len(items) / cols)
    fig = Figure(figsize=(2.4 * cols + 1.0, 2.5 * rows))
    margins(fig, 0.45, 1.0, 0.4, 0.4, wspace=0.45, hspace=0.55)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    image = None
    for ax, (name, classes, counts) in zip(axes, items, strict=False):
        m = np.asarray(counts, dtype=float)
        correct = np.trace(m) / max(m.sum(), 1)
        image = ax.imshow(m / np.maximum(m.sum(1, keepdims=True), 1), vmin=0, vmax=1, cmap="Blues")
        ax.set_title(f"{name}\n{100 * correct:.1f} % correct", fontsize=8)
        ticks = range(len(classes)) if len(classes) <= 12 else []
        ax.set_xticks(ticks, [classes[i] for i in ticks], fontsize=6)
        ax.set_yticks(ticks, [classes[i] for i in ticks], fontsize=6)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("actual", fontsize=7)
    for ax in axes[len(items) :]:
        ax.axis("off")
    w, h = fig.get_size_inches()
    bar = fig.add_axes((1 - 0.75 / w, 0.4 / h, 0.12 / w, 1 - 0.8 / h))
    fig.colorbar(image, cax=bar).set_label("share of the actual class", fontsize=7)
    bar.tick_params(labelsize=7)
    return png(fig)
