"""The report page (gantl report, the report stage): one self-contained HTML file whose
headline numbers are summary.json's, every section present or replaced by a note, user text
escaped. The workspace is a small fake of what the stages write."""

from __future__ import annotations

import json
import re
import shutil
import time
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from gantl import report as table
from gantl.cli import app
from gantl.config import load_params
from gantl.published import PUBLISHED
from gantl.reporting import inputs
from gantl.reporting.provenance import REQUIRED, changed_params
from gantl.stages.report import build_page, report
from tests.conftest import ROOT

runner = CliRunner()
SECTIONS = (
    "results",
    "accuracy",
    "curves",
    "embedding",
    "confusion",
    "translation",
    "champion",
    "lineage",
)
MODELS = ("source_only", "oracle", "adda", "cyclegan+source_only", "adda+refine")
HOSTILE = '<script>alert("x")</script>'
MAX_BYTES = 2 * 1024 * 1024


def _png(width: int, height: int, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _result(acc: list[float], model: str, **extra) -> dict:
    mean = float(np.mean(acc))
    out = {
        "target_acc_mean": mean,
        "target_acc_std": float(np.std(acc, ddof=1)),
        "target_acc_per_seed": acc,
        "source_test_acc_mean": 0.981,
        "selection": "validator bnm",
    }
    if model != "oracle":
        out |= {"validator_score_mean": 0.52, "proxy_a_distance_mean": 1.234}
        out["embedding"] = f"plots/embedding/{model}.png"
    return out | extra


def _summary() -> dict:
    results = {
        "source_only": _result([0.567, 0.571, 0.560], "source_only", selection="source-val acc"),
        "oracle": _result([0.836, 0.84, 0.83], "oracle", selection="target labels (oracle)"),
        "adda": _result(
            [0.824, 0.81, 0.83],
            "adda",
            target_acc_upper_bound_mean=0.8512,
            target_acc_upper_bound_std=0.004,
        ),
        "cyclegan+source_only": _result(
            [0.52, 0.55, 0.53], "cyclegan+source_only", negative_transfer=True, collapsed=False
        ),
        "adda+refine": _result(
            [0.858, 0.86, 0.85],
            "adda+refine",
            target_acc_upper_bound_mean=0.8601,
            target_acc_upper_bound_std=0.002,
        ),
    }
    return {
        "protocol": "mnist-usps-adda",
        "source": {"domain": "mnist", "spec": "mnist:mnist"},
        "target": {"domain": "usps", "spec": "usps:usps/usps.h5"},
        "seeds": [0, 1, 2],
        "validator": "bnm",
        "n_target_test": 2007,
        "notes": ["MNIST: t10k split 5,000/5,000"],
        "results": results,
        "recommended": "adda+refine",
        "adaptation_failed": False,
        "warnings": [
            "negative transfer: cyclegan+source_only scores below source-only "
            f"on the validator {HOSTILE}"
        ],
    }


def _write_tsv(path: Path, metric: str, values: list[float], timestamp: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ["timestamp", "step", metric] if timestamp else ["step", metric]
    lines = ["\t".join(head)]
    for epoch, value in enumerate(values, start=1):
        row = [str(1700000000000 + epoch), str(epoch), repr(value)]
        lines.append("\t".join(row if timestamp else row[1:]))
    path.write_text("\n".join(lines) + "\n")


def _write_live(root: Path, stage: str, model: str, metrics: dict[str, list[float]]) -> None:
    """dvclive's layout: metrics.json (final values by seed) and one TSV per seed and metric,
    the ones reading target labels under target_labels/."""
    base = root / "plots" / "live" / stage / model
    final: dict = {"step": 4}
    for seed in (0, 1):
        run = base / "plots" / "metrics" / f"seed{seed}"
        for metric, values in metrics.items():
            labelled = metric in ("target_val_acc", "target_test_acc", "fid")
            shifted = [v * (1 + 0.03 * seed) for v in values]
            folder = run / "target_labels" if labelled else run
            _write_tsv(folder / f"{metric}.tsv", metric, shifted, timestamp=seed == 0)
        final[f"seed{seed}"] = {"kept_epoch": 3}
    (base / "metrics.json").write_text(json.dumps(final))


def _write_confusion(path: Path, accuracy: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    actual = rng.integers(0, 10, 400)
    wrong = rng.random(400) > accuracy
    predicted = np.where(wrong, rng.integers(0, 10, 400), actual)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["actual,predicted", *(f"{a},{p}" for a, p in zip(actual, predicted, strict=True))]
    path.write_text("\n".join(rows) + "\n")


def _write_translation(root: Path) -> None:
    (root / "plots" / "translate").mkdir(parents=True, exist_ok=True)
    (root / "plots" / "translate" / "cyclegan.png").write_bytes(_png(360, 120, 1))
    rows = ["epoch,fid,kid,label_preservation,src_fid,dom_fid,src_agreement,label_free_score,kept"]
    rows += [
        f"{e},{60 - 10 * e},{0.05 / e:.4f},{0.8 + 0.03 * e},{70 - 9 * e},{30 - 5 * e},"
        f"{0.7 + 0.05 * e},{0.1 * e},{int(e == 3)}"
        for e in (1, 2, 3, 4)
    ]
    (root / "plots" / "translate" / "cyclegan.csv").write_text("\n".join(rows) + "\n")
    record = {
        "gan": "cyclegan",
        "judge": "oracle (target-domain classifier features; uses target labels)",
        "n_images": 1000,
        "fid": 18.6,
        "kid": 0.0123,
        "label_preservation": 0.908,
        "src_fid": 25.1,
        "src_agreement": 0.88,
        "label_free_score": 0.41,
        "untranslated": {"fid": 53.8, "kid": 0.051, "label_preservation": 0.97},
        "select": "label_free",
        "epoch": 3,
        "epochs": 4,
        "seconds": 82.0,
    }
    (root / "metrics" / "translate.json").write_text(json.dumps(record))


def _write_champion(root: Path) -> None:
    champion = root / "models" / "champion"
    champion.mkdir(parents=True)
    pointer = {
        "model": "models/adda+refine",
        "method": "adda+refine",
        "seed": 1,
        "checkpoint": "models/adda+refine/seed_1/selected",
        "weights_sha256": "ab" * 32,
        "validator": "bnm",
        "score": 0.61,
        "data_hash": "cd" * 32,
        "commit": "ef" * 20,
        "promoted_at": "2025-01-02T03:04:05+00:00",
    }
    (champion / "champion.json").write_text(json.dumps(pointer))
    decision = {
        "time": "2025-01-02T03:04:05+00:00",
        "promoted": True,
        "reason": "no champion yet",
        "candidate": {"model": "adda+refine", "seed": 1, "score": 0.61},
        "champion": None,
    }
    (champion / "registry.jsonl").write_text(json.dumps(decision) + "\n")


def _write_prepared(root: Path) -> None:
    from gantl.data.store import write_split

    for role, domain in (("source", "mnist"), ("target", "usps")):
        for split in ("train", "val", "test"):
            meta = {"domain": domain, "spec": f"{domain}:x", "role": role, "split": split}
            meta["raw_sha256"] = f"{role}{split}".encode().hex().ljust(64, "0")
            images = np.zeros((4, 8, 8, 1), np.uint8)
            path = root / "data" / "prepared" / role / f"{split}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_split(path, images, np.arange(4), np.arange(4), np.array(["o"] * 4), meta)
    lock = {
        "schema": "2.0",
        "stages": {
            "prepare": {
                "cmd": "gantl stage prepare",
                "outs": [{"path": "data/prepared", "hash": "md5", "md5": "0123456789abcdef.dir"}],
            }
        },
    }
    (root / "dvc.lock").write_text(json.dumps(lock))


def make_workspace(root: Path, complete: bool = True) -> Path:
    """A pipeline repo after a run: params, summary and (if complete) everything else."""
    params = (ROOT / "params.yaml").read_text()
    params = re.sub(r"(?m)^(  seeds:\s*)\[0\]", r"\1[0, 1, 2]", params)
    (root / "params.yaml").write_text(params)
    (root / "metrics").mkdir(parents=True)
    (root / "metrics" / "summary.json").write_text(json.dumps(_summary(), indent=2))
    if not complete:
        return root
    for k, model in enumerate(MODELS):
        _write_confusion(root / "plots" / "confusion" / f"{model}.csv", 0.5 + 0.1 * k, k)
        if model != "oracle":
            (root / "plots" / "embedding").mkdir(parents=True, exist_ok=True)
            (root / "plots" / "embedding" / f"{model}.png").write_bytes(_png(200, 100, k))
    losses = {"train_loss": [1.2, 0.8, 0.6, 0.5], "train_acc": [0.6, 0.8, 0.9, 0.92]}
    _write_live(root, "pretrain", "source_only", losses | {"val_acc": [0.6, 0.7, 0.75, 0.8]})
    adda = {"d_loss": [0.7, 0.69, 0.68, 0.7], "g_loss": [0.8, 0.75, 0.72, 0.7]}
    adda |= {"domain_acc": [0.6, 0.55, 0.52, 0.5], "bnm": [0.4, 0.5, 0.55, 0.56]}
    _write_live(root, "adapt", "adda", adda | {"target_val_acc": [0.7, 0.75, 0.8, 0.81]})
    _write_live(
        root, "refine", "adda+refine", {"ent": [0.4, 0.3, 0.2, 0.2], "div": [-2, -2.2, -2.25, -2.3]}
    )
    _write_live(
        root, "translate", "cyclegan", {"cycle": [1, 0.5, 0.3, 0.2], "fid": [60, 40, 30, 28]}
    )
    _write_translation(root)
    _write_champion(root)
    _write_prepared(root)
    return root


class _Cells(HTMLParser):
    """Every element's data-* attributes, and the text of those with data-metric."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[tuple[str, str], str] = {}
        self.recommended: list[str] = []
        self.ids: list[str] = []
        self.srcs: list[str] = []
        self._open: tuple[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "tr" and a.get("data-recommended") == "true":
            self.recommended.append(a["data-model"])
        for key in ("src", "href"):
            if key in a:
                self.srcs.append(a[key])
        if "data-metric" in a:
            self._open = (a["data-model"], a["data-metric"])
            self.metrics[self._open] = ""

    def handle_data(self, data):
        if self._open is not None:
            self.metrics[self._open] += data

    def handle_endtag(self, tag):
        self._open = None


def _parse(text: str) -> _Cells:
    cells = _Cells()
    cells.feed(text)
    return cells


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    root = make_workspace(tmp_path_factory.mktemp("repo"))
    page = report(load_params(root / "params.yaml"), root)
    return root, page.read_text(encoding="utf-8")


def test_the_page_is_one_self_contained_file_with_every_section(built):
    root, text = built
    page = root / "reports" / "index.html"
    assert page.stat().st_size <= MAX_BYTES
    cells = _parse(text)
    assert [s for s in SECTIONS if s in cells.ids] == list(SECTIONS)
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert not re.search(r"<link\b|@import|url\(", text, re.I)
    images = [s for s in cells.srcs if not s.startswith("#")]
    assert images and all(s.startswith("data:image/png;base64,") for s in images)
    # the accuracy bars, one figure per dvclive folder, 4 t-SNE panels, confusion, grid, curves
    assert len(images) == 1 + 4 + 4 + 1 + 2


def test_the_same_inputs_make_the_same_page_byte_for_byte(built):
    """No date or random state on the page: an unchanged pipeline reruns to an equal output."""
    root, text = built
    assert build_page(load_params(root / "params.yaml"), root) == text


def test_headline_numbers_are_the_summarys_as_the_table_formats_them(built):
    root, text = built
    summary = json.loads((root / "metrics" / "summary.json").read_text())
    cells = _parse(text).metrics
    keys = (
        "target_acc_mean",
        "target_acc_std",
        "target_acc_upper_bound_mean",
        "source_test_acc_mean",
    )
    for model, r in summary["results"].items():
        for key in keys:
            expected = "–" if r.get(key) is None else table._pct(r[key])
            assert cells[(model, key)] == expected, (model, key)
        pad = r.get("proxy_a_distance_mean")
        assert cells[(model, "proxy_a_distance_mean")] == ("–" if pad is None else f"{pad:.2f}")
    assert cells[("adda", "target_acc_mean")] == f"{100 * np.mean([0.824, 0.81, 0.83]):.2f}"
    assert _parse(text).recommended == [summary["recommended"]]


def test_published_rows_flags_warnings_and_footnotes_are_shown(built):
    _, text = built
    for paper, accuracies in PUBLISHED["mnist-usps-adda"].items():
        assert f"published: {paper}".replace("&", "&amp;") in text
        for value in accuracies.values():
            assert f"{value:.2f}" in text
    assert "dann" in text and "not run here" in text  # a published method this run lacks
    row = re.search(r'<tr data-model="cyclegan\+source_only">.*?</tr>', text).group(0)
    assert "⚠ negative transfer" in row
    warnings = re.search(r'<div class="warnings">.*?</div>', text, re.S).group(0)
    assert "negative transfer: cyclegan+source_only" in warnings
    assert "upper bound, not an honest result" in text
    assert "note: MNIST: t10k split 5,000/5,000" in text


def test_user_text_is_escaped(built):
    _, text = built
    assert HOSTILE not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text


def test_lineage_lists_hashes_and_the_params_that_differ_from_defaults(built):
    _, text = built
    lineage = text[text.index('<section id="lineage">') :]
    assert "0123456789abcdef.dir" in lineage  # dvc.lock's md5 of data/prepared
    assert b"sourcetrain".hex()[:16] in lineage  # a split's raw-input hash
    assert "experiment.seeds" in lineage and "[0, 1, 2]" in lineage
    assert "experiment.protocol" in lineage and "(no default)" in lineage


def test_champion_and_translation_sections_show_their_records(built):
    _, text = built
    champion = text[text.index('<section id="champion">') : text.index('<section id="lineage">')]
    assert "adda+refine" in champion and "no champion yet" in champion
    translation = text[
        text.index('<section id="translation">') : text.index('<section id="champion">')
    ]
    assert "FID (uses target labels)" in translation and "18.60" in translation
    assert "90.8%" in translation and "53.80" in translation


def test_missing_inputs_give_notes_not_errors(tmp_path):
    root = make_workspace(tmp_path, complete=False)
    text = report(load_params(root / "params.yaml"), root).read_text(encoding="utf-8")
    assert [s for s in SECTIONS if s in _parse(text).ids] == list(SECTIONS)
    for line in (
        "no training curves",
        "adda: plots/embedding/adda.png not found",
        "no confusion matrices",
        "no translation outputs for cyclegan yet",
        "no champion promoted yet (gantl retrain promotes one)",
        "no prepared splits",
    ):
        assert line in text, line
    summary = json.loads((root / "metrics" / "summary.json").read_text())
    for result in summary["results"].values():
        result.pop("embedding", None)  # an evaluate stage that writes none
    (root / "metrics" / "summary.json").write_text(json.dumps(summary))
    text = report(None, root).read_text(encoding="utf-8")
    assert "no embeddings in metrics/summary.json" in text
    assert "no params file" in text


def test_dvclive_curves_are_read_by_seed_with_the_label_reading_ones_marked(tmp_path):
    make_workspace(tmp_path)
    found = inputs.find_curves(tmp_path / "plots" / "live", ("pretrain", "translate", "adapt"))
    assert [(c.stage, c.model) for c in found] == [
        ("pretrain", "source_only"),
        ("translate", "cyclegan"),
        ("adapt", "adda"),
        ("refine", "adda+refine"),
    ]
    adda = found[2]
    assert set(adda.runs) == {"seed0", "seed1"} and adda.kept == {"seed0": 3.0, "seed1": 3.0}
    assert adda.runs["seed1"]["target_val_acc"].uses_labels  # under target_labels/
    assert not adda.runs["seed0"]["d_loss"].uses_labels
    assert adda.runs["seed0"]["d_loss"].steps == [1, 2, 3, 4]  # with a timestamp column …
    assert adda.runs["seed1"]["g_loss"].values[0] == pytest.approx(0.8 * 1.03)  # … and without


def test_changed_params_compares_with_the_field_defaults():
    params = load_params(ROOT / "params.yaml")
    changed = {key: (value, default) for key, value, default in changed_params(params)}
    assert changed["experiment.protocol"][1] is REQUIRED
    for key, (value, default) in changed.items():
        assert default is REQUIRED or value != default, key


def test_gantl_report_writes_the_page_and_says_where(tmp_path):
    root = make_workspace(tmp_path)
    out = tmp_path / "elsewhere" / "page.html"
    args = ["report", "--root", str(root), "--params", str(root / "params.yaml"), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.is_file() and f"wrote {out}" in result.stdout


def test_gantl_stage_report_writes_reports_index_html(tmp_path, monkeypatch):
    make_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    result = runner.invoke(app, ["stage", "report", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "index.html").stat().st_size > 0
    assert time.perf_counter() - started < 20


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "summary.json: not found; run the evaluate stage first"),
        ("{not json", "summary.json: not valid JSON"),
        ('{"protocol": "x"}', "summary.json: not an evaluate summary (missing source"),
        ("[1, 2]", "summary.json: not an evaluate summary (expected a JSON object"),
    ],
)
def test_a_missing_or_bad_summary_is_one_error_line_and_exit_2(tmp_path, content, message):
    root = make_workspace(tmp_path, complete=False)
    summary = root / "metrics" / "summary.json"
    if content is None:
        shutil.rmtree(root / "metrics")
    else:
        summary.write_text(content)
    args = ["report", "--root", str(root), "--params", str(root / "params.yaml")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and message in line, line
    assert not (root / "reports" / "index.html").exists()
