"""What the stages wrote, read back for the report. Anything but the summary may be absent:
those readers return None (or nothing), and the page says so in a note."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gantl.errors import DataError

SUMMARY_KEYS = ("protocol", "source", "target", "seeds", "validator", "results")
LABELS_DIR = "target_labels"  # dvclive curves that read target labels sit in this subfolder
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REGISTRY = "registry.jsonl"  # beside champion.json: one JSON line per decision (gantl.champion)


def load_summary(path: Path) -> dict[str, Any]:
    """metrics/summary.json as the evaluate stage writes it; a DataError naming the file if it
    is missing, not JSON or not an evaluate summary."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found; run the evaluate stage first (`dvc repro evaluate`)")
    try:
        summary = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None
    missing = [k for k in SUMMARY_KEYS if k not in summary] if isinstance(summary, dict) else []
    if not isinstance(summary, dict) or missing or not isinstance(summary["results"], dict):
        what = f"missing {', '.join(missing)}" if missing else "expected a JSON object of results"
        raise DataError(f"{path}: not an evaluate summary ({what}); rerun the evaluate stage")
    return summary


def read_png(path: Path) -> bytes | None:
    """A PNG file's bytes, or None if there is none (or it is no PNG)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return data if data.startswith(PNG_MAGIC) else None


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object, or None if the file is absent or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Series:
    """One curve: x (epochs) and y, and whether it reads target labels."""

    steps: list[float]
    values: list[float]
    uses_labels: bool = False


@dataclass(frozen=True)
class Curves:
    """One dvclive folder, plots/live/<stage>/<model>: per run (seed0, …) its curves by metric,
    and the epoch each run's checkpoint was kept from."""

    stage: str
    model: str
    runs: dict[str, dict[str, Series]] = field(default_factory=dict)
    kept: dict[str, float] = field(default_factory=dict)


def read_tsv(path: Path) -> tuple[list[float], list[float]]:
    """A dvclive metric file (`[timestamp\t]step\t<metric>`): its steps and values."""
    rows = list(csv.reader(Path(path).read_text().splitlines(), delimiter="\t"))
    if not rows:
        return [], []
    header = rows[0]
    x = header.index("step") if "step" in header else 0
    y = header.index(path.stem) if path.stem in header else len(header) - 1
    steps, values = [], []
    for row in rows[1:]:
        if len(row) > max(x, y):
            step, value = _number(row[x]), _number(row[y])
            if step is not None and value is not None:
                steps.append(step)
                values.append(value)
    return steps, values


def read_curves(directory: Path, stage: str, model: str) -> Curves:
    """Every metric TSV under <directory>/plots/metrics, grouped by the run folder above it."""
    base = Path(directory) / "plots" / "metrics"
    runs: dict[str, dict[str, Series]] = {}
    for tsv in sorted(base.rglob("*.tsv")):
        parts = tsv.relative_to(base).parts[:-1]
        uses_labels = LABELS_DIR in parts
        run = "/".join(p for p in parts if p != LABELS_DIR) or "run"
        steps, values = read_tsv(tsv)
        if steps:
            runs.setdefault(run, {})[tsv.stem] = Series(steps, values, uses_labels)
    final = read_json(Path(directory) / "metrics.json") or {}
    kept = {
        run: float(v["kept_epoch"])
        for run, v in final.items()
        if isinstance(v, dict) and _number(v.get("kept_epoch")) is not None
    }
    return Curves(stage, model, runs, kept)


def find_curves(live: Path, stage_order: tuple[str, ...]) -> list[Curves]:
    """Every plots/live/<stage>/<model> folder holding curves: stages in `stage_order` first."""
    live = Path(live)
    if not live.is_dir():
        return []
    stages = sorted(
        (d for d in live.iterdir() if d.is_dir()),
        key=lambda d: (
            stage_order.index(d.name) if d.name in stage_order else len(stage_order),
            d.name,
        ),
    )
    found = [
        read_curves(m, s.name, m.name) for s in stages for m in sorted(s.iterdir()) if m.is_dir()
    ]
    return [c for c in found if c.runs]


def _class_key(name: str) -> tuple[int, float | str]:
    return (0, float(name)) if _number(name) is not None else (1, name)


def read_confusion(path: Path) -> tuple[list[str], list[list[int]]] | None:
    """plots/confusion/<model>.csv (`actual,predicted` per image) as class names and counts
    (rows: actual), or None if absent or empty."""
    try:
        rows = list(csv.DictReader(Path(path).read_text().splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    pairs = [(r["actual"], r["predicted"]) for r in rows if r.get("actual") and r.get("predicted")]
    if not pairs:
        return None
    classes = sorted({c for pair in pairs for c in pair}, key=_class_key)
    index = {c: i for i, c in enumerate(classes)}
    counts = [[0] * len(classes) for _ in classes]
    for actual, predicted in pairs:
        counts[index[actual]][index[predicted]] += 1
    return classes, counts


def read_history(path: Path) -> list[dict[str, float]] | None:
    """plots/translate/<gan>.csv: one row per epoch, its numeric columns (whichever there are)."""
    try:
        rows = list(csv.DictReader(Path(path).read_text().splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    parsed = [
        {k: v for k, v in ((k, _number(text)) for k, text in row.items() if k) if v is not None}
        for row in rows
    ]
    parsed = [row for row in parsed if "epoch" in row]
    return parsed or None


def last_registry_line(champion_dir: Path) -> dict[str, Any] | None:
    """The latest decision of models/champion/registry.jsonl, or None."""
    try:
        lines = (Path(champion_dir) / REGISTRY).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in reversed([ln for ln in lines if ln.strip()]):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        return entry if isinstance(entry, dict) else None
    return None
