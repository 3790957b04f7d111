"""The embedding view: a fixed sample, a t-SNE where separate domains stay apart and mixed ones
mix, its CSV and PNG, and the evaluate stage writing one per model (or none when asked)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.image import imread
from sklearn.neighbors import NearestNeighbors

from gantl.config import params_from_dict
from gantl.eval import embedding
from gantl.eval.embedding import (
    Points,
    empty_folder,
    sample_points,
    sample_rows,
    tsne,
    write_embedding,
)
from gantl.stages.evaluate import evaluate
from gantl.stages.prepare import prepare
from gantl.stages.pretrain import pretrain
from gantl.transaction import stage_transaction
from tests.conftest import TINY_PARAMS

CLASSES = ["zero", "one", "two"]


def _points(n: int, shift: float, dims: int = 32, seed: int = 0) -> Points:
    """n source and n target points: class clusters, the target moved by `shift`."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(CLASSES), dims)) * 4
    y_s, y_t = rng.integers(0, len(CLASSES), n), rng.integers(0, len(CLASSES), n)
    f_s = centers[y_s] + rng.normal(size=(n, dims))
    f_t = centers[y_t] + rng.normal(size=(n, dims)) + shift
    return sample_points(f_s, f_t, y_s, y_t, n)


def _domain_purity(xy: np.ndarray, domain: np.ndarray, k: int = 5) -> float:
    """Mean share of each point's k nearest neighbours (in the 2-D view) from its own domain."""
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy)
    return float((domain[idx[:, 1:]] == domain[:, None]).mean())


def test_sample_is_bounded_distinct_sorted_and_fixed():
    rows = sample_rows(1000, 300, stream=0)
    assert len(rows) == 300 == len(np.unique(rows))
    assert (np.diff(rows) > 0).all() and rows.max() < 1000
    assert np.array_equal(rows, sample_rows(1000, 300, stream=0))
    assert not np.array_equal(rows, sample_rows(1000, 300, stream=1))  # one draw per domain
    assert np.array_equal(sample_rows(50, 300, stream=0), np.arange(50))  # all, when fewer


def test_sample_points_keep_rows_aligned_with_labels():
    f_s, f_t = np.arange(20.0)[:, None], 100 + np.arange(10.0)[:, None]
    points = sample_points(f_s, f_t, np.arange(20) % 3, np.arange(10) % 3, n=8)
    assert points.features.shape == (16, 1) and points.features.dtype == np.float32
    assert points.domain.tolist() == [0] * 8 + [1] * 8
    rows = points.features[:, 0].astype(int) % 100  # each feature encodes its row
    assert np.array_equal(points.label, rows % 3)
    assert np.array_equal(
        sample_points(f_s, f_t, f_s[:, 0] % 3, f_t[:, 0] % 3, 8).features, points.features
    )


def test_tsne_keeps_separate_domains_apart_and_mixes_aligned_ones():
    apart, mixed = _points(60, shift=12.0), _points(60, shift=0.0)
    xy = tsne(apart.features)
    assert xy.shape == (120, 2)
    assert np.array_equal(xy, tsne(apart.features))  # fixed seed, one thread
    assert _domain_purity(xy, apart.domain) > 0.95
    assert _domain_purity(tsne(mixed.features), mixed.domain) < 0.7


def test_tsne_of_a_handful_of_points():
    for n in (1, 2, 3, 5):
        assert tsne(np.random.default_rng(n).normal(size=(n, 8))).shape == (n, 2)


def test_csv_and_png(tmp_path, monkeypatch):
    points = _points(40, shift=3.0)
    titles = []
    draw = embedding.figure
    monkeypatch.setattr(embedding, "figure", lambda *a: titles.append(a[-1]) or draw(*a))
    png = write_embedding(tmp_path / "embedding", "dann", points, CLASSES, pad=0.8765)
    assert png == tmp_path / "embedding" / "dann.png"
    assert titles == ["dann — PAD 0.88"]
    with open(tmp_path / "embedding" / "dann.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["x", "y", "domain", "class"]
    assert len(rows) == 80
    assert [r["domain"] for r in rows] == ["source"] * 40 + ["target"] * 40
    assert [r["class"] for r in rows] == [CLASSES[c] for c in points.label]
    xy = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    assert np.isfinite(xy).all() and xy.std(axis=0).min() > 0.1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size < 150_000
    image = imread(png)
    assert image.shape[1] > image.shape[0] >= 250  # two panels side by side
    assert image[..., :3].std() > 0.05  # not blank
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 20  # coloured points


def test_a_stage_swaps_in_only_its_own_views(tmp_path):
    folder = tmp_path / "plots" / "embedding"
    folder.mkdir(parents=True)
    (folder / "gone.png").write_bytes(b"an earlier run's model")
    with stage_transaction([tmp_path / "plots"], tmp_path / "staging"):
        empty_folder(folder)
        write_embedding(folder, "dann", _points(5, shift=3.0), CLASSES, pad=None)
        assert (folder / "gone.png").exists()  # nothing changes before the stage ends
    assert sorted(p.name for p in folder.iterdir()) == ["dann.csv", "dann.png"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("embedding")
    params = params_from_dict(yaml.safe_load(TINY_PARAMS))
    prepare(params, root / "prepared")
    pretrain(params, root / "prepared", root / "models" / "source")
    return root, params


@pytest.mark.parametrize("samples", [20, 0])
def test_evaluate_writes_one_embedding_per_model_or_none(tiny, samples):
    root, params = tiny
    params = params.model_copy(
        update={"evaluate": params.evaluate.model_copy(update={"embedding_samples": samples})}
    )
    out = root / f"out{samples}"
    summary = evaluate(
        params,
        root / "prepared",
        root / "models",
        metrics=out / "metrics",
        plots=out / "plots",
        reports=out / "reports",
        names=["source_only"],
    )
    entry = summary["results"]["source_only"]
    folder = out / "plots" / "embedding"
    if samples == 0:
        assert "embedding" not in entry and list(folder.iterdir()) == []  # DVC's output: there
        return
    assert entry["embedding"] == (folder / "source_only.png").as_posix()
    assert sorted(p.name for p in folder.iterdir()) == ["source_only.csv", "source_only.png"]
    assert len((folder / "source_only.csv").read_text().splitlines()) == 1 + 2 * samples
    assert Path(entry["embedding"]).stat().st_size > 0
