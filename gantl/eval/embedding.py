"""A 2-D t-SNE view of a model's source and target test features, beside its proxy A-distance.

PAD says how far apart the domains are in one number; the view shows how: whether target
points sit on the source classes' clusters (aligned), beside them (shifted) or apart (no
adaptation). Every model is drawn on the same fixed sample of test images, so the views compare.

Writes <dir>/<model>.csv (x,y,domain,class: the input of DVC's `embedding` plot template,
.dvc/plots/embedding.json) and <dir>/<model>.png (two panels: coloured by domain, by class).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from io import BytesIO, StringIO
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from gantl.io import atomic_dir, atomic_path

SEED = 0  # one sample and one layout for every model and run, whatever the experiment's seeds
DOMAINS = ("source", "target")
DOMAIN_COLORS = ("#3b75af", "#e8a317")
PCA_DIMS = 50  # t-SNE's usual first step: fewer dimensions, less noise, same neighbours
TSNE_ITERATIONS = 500  # 250 of early exaggeration, then 250 to settle: enough for ~600 points
DPI = 96


@dataclass(frozen=True)
class Points:
    """The sampled test images' features: source rows first, then target rows."""

    features: np.ndarray  # (n, d) float32
    domain: np.ndarray  # (n,) 0: source, 1: target
    label: np.ndarray  # (n,) class index


def sample_rows(n_rows: int, n: int, stream: int, seed: int = SEED) -> np.ndarray:
    """At most `n` distinct row indices of `n_rows`, sorted; the same for the same arguments.

    stream: one independent draw per domain (0 source, 1 target).
    """
    rng = np.random.default_rng([seed, stream])
    return np.sort(rng.choice(n_rows, size=min(n, n_rows), replace=False))


def sample_points(
    f_s: np.ndarray, f_t: np.ndarray, y_s: np.ndarray, y_t: np.ndarray, n: int
) -> Points:
    """At most `n` images per domain, the same rows whichever model made the features."""
    rows_s, rows_t = sample_rows(len(f_s), n, 0), sample_rows(len(f_t), n, 1)
    return Points(
        features=np.concatenate([f_s[rows_s], f_t[rows_t]]).astype(np.float32),
        domain=np.repeat([0, 1], [len(rows_s), len(rows_t)]),
        label=np.concatenate([np.asarray(y_s)[rows_s], np.asarray(y_t)[rows_t]]).astype(int),
    )


def tsne(features: np.ndarray, seed: int = SEED) -> np.ndarray:
    """(n, 2) t-SNE coordinates: PCA to at most PCA_DIMS first, PCA initialisation, fixed seed."""
    x = np.asarray(features, dtype=np.float32)
    n = len(x)
    if n < 3:  # too few points for neighbours: lay them on a line
        return np.stack([np.arange(n, dtype=float), np.zeros(n)], axis=1)
    dims = min(PCA_DIMS, n, x.shape[1])
    # One thread: the same layout on any core count, and no OpenMP oversubscription next to
    # torch's threads (on 2 busy cores, 2 threads took several times longer than one).
    with threadpool_limits(limits=1):
        if dims < x.shape[1]:
            x = PCA(dims, random_state=seed).fit_transform(x)
        return TSNE(
            n_components=2,
            perplexity=min(30.0, (n - 1) / 3),  # sklearn needs it below n
            init="pca",
            max_iter=TSNE_ITERATIONS,
            random_state=seed,
        ).fit_transform(x)


def empty_folder(folder: Path) -> None:
    """Replace `folder` with an empty one (staged with the stage's other outputs), so that it
    holds only the views written next, and exists, as DVC expects of an output, when none are."""
    with atomic_dir(folder):
        pass


def write_embedding(
    folder: Path, model: str, points: Points, class_names: list[str], pad: float | None
) -> Path:
    """Embed `points`, write <folder>/<model>.csv and .png (titled with the PAD); the PNG's path."""
    xy = tsne(points.features)
    buffer = StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["x", "y", "domain", "class"])
    for (x, y), d, c in zip(xy, points.domain, points.label, strict=True):
        writer.writerow([f"{x:.3f}", f"{y:.3f}", DOMAINS[d], class_names[c]])
    with atomic_path(Path(folder) / f"{model}.csv") as tmp:
        tmp.write_text(buffer.getvalue())
    title = f"{model} — PAD {pad:.2f}" if pad is not None else model
    png = Path(folder) / f"{model}.png"
    with atomic_path(png) as tmp:
        tmp.write_bytes(figure(xy, points, class_names, title))
    return png


def figure(xy: np.ndarray, points: Points, class_names: list[str], title: str) -> bytes:
    """Two scatter panels as PNG bytes: by domain, by class (tab10; tab20 past ten classes).

    Points are drawn in a fixed shuffled order, so neither domain hides the other.
    """
    order = np.random.default_rng(SEED).permutation(len(xy))
    xy = xy[order]
    cmap = colormaps["tab10" if len(class_names) <= 10 else "tab20"]
    class_colors = [cmap(i % cmap.N) for i in range(len(class_names))]
    panels = (
        ("by domain", DOMAIN_COLORS, DOMAINS, points.domain[order]),
        ("by class", class_colors, class_names, points.label[order]),
    )
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    for ax, (name, colors, labels, index) in zip(fig.subplots(1, 2), panels, strict=True):
        ax.scatter(xy[:, 0], xy[:, 1], c=[colors[i] for i in index], s=6, alpha=0.7, lw=0)
        shown = sorted(set(index.tolist()))
        handles = [Line2D([], [], ls="", marker="o", ms=4, color=colors[i]) for i in shown]
        legend = {"loc": "center left", "bbox_to_anchor": (1, 0.5), "ncols": 1 + len(shown) // 11}
        ax.legend(handles, [labels[i] for i in shown], fontsize=6, frameon=False, **legend)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
