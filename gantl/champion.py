"""The champion: which trained model is in service, and the append-only record of why.

Retraining produces a candidate (the model the evaluate stage recommends by the label-free
validator). Before it replaces the champion, both are scored on the *current* target-val images
with that same validator — never with target labels — so the comparison is fair after the target
data changed. Every decision (promote, keep, or "data unchanged") is appended to the registry.

Layout (ignored by DVC through .dvcignore, so promotions never make a stage stale):

    models/champion/champion.json   the pointer: which model, seed, checkpoint, hashes, score
    models/champion/model/          a copy of the promoted checkpoint (weights + manifest)
    models/champion/registry.jsonl  one JSON line per decision, append-only
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gantl.checkpoint import MANIFEST, WEIGHTS, git_commit, load_classifier
from gantl.config import Params
from gantl.data.specs import load_domain
from gantl.errors import DataError
from gantl.io import atomic_dir, files_sha256, write_json
from gantl.runtime import resolve_device
from gantl.stages.inputs import load_adaptation_data
from gantl.stages.paths import BASELINES, MODEL_REPORTS, MODELS, PREPARED, checkpoint_dir
from gantl.training.selection import validator_scores

CHAMPION = MODELS / "champion"
POINTER = "champion.json"
REGISTRY = "registry.jsonl"


def watched_files(params: Params, watch: Path | None = None) -> list[Path]:
    """The bytes that define "the target data": a drop folder, else the target's raw files."""
    if watch is not None:
        watch = Path(watch)
        if watch.is_file():
            return [watch]
        if not watch.is_dir():
            raise DataError(f"{watch}: watched target data not found (expected a file or folder)")
        return sorted(p for p in watch.rglob("*") if p.is_file() and not p.name.startswith("."))
    exp = params.experiment
    return list(load_domain(exp.target, exp.data_dir, seed=params.prepare.seed).raw_files)


def data_hash(params: Params, watch: Path | None = None) -> str:
    """Content hash of the watched target data (names relative to the folder, and bytes)."""
    files = watched_files(params, watch)
    if not files:
        raise DataError(f"{watch}: no files to watch")
    if watch is not None and Path(watch).is_dir():
        root = Path(watch)
        return files_sha256(files, name=lambda p: p.relative_to(root).as_posix())
    return files_sha256(files)


@dataclass(frozen=True)
class Scored:
    """One checkpoint with its label-free validator score on the current target-val images."""

    model: str  # e.g. "adda", "cyclegan+adda", "source_only"
    seed: int
    checkpoint: str  # repo-relative checkpoint dir
    weights_sha256: str
    score: float


def score_checkpoint(params: Params, directory: Path, prepared: Path, seed: int = 0) -> float:
    """The configured validator's score (higher is better) of a checkpoint on today's data.

    The same computation as the evaluate stage's `validator_score`: target-val images without
    labels, and source rows for the validators that need them.
    """
    device = resolve_device(params.evaluate.device)
    data = load_adaptation_data(prepared, with_target_val_labels=False)
    model, _ = load_classifier(directory)
    scores = validator_scores(model.to(device), data, params.adapt, device, seed)
    return scores[params.adapt.validator]


def candidate(params: Params, root: Path, summary: dict[str, Any]) -> Scored:
    """The recommended model's best seed by validator, rescored on the current data."""
    name = summary["recommended"]
    report_path = Path(root) / MODEL_REPORTS / f"{name}.json"
    if not report_path.is_file():
        raise DataError(f"{report_path}: report of the recommended model {name!r} not found")
    per_seed = json.loads(report_path.read_text())["per_seed"]
    best = max(per_seed, key=lambda r: r.get("validator_score", float("-inf")))
    directory = checkpoint_dir(Path(root) / MODELS, name, best["seed"])
    return Scored(
        model=name,
        seed=best["seed"],
        checkpoint=directory.relative_to(root).as_posix(),
        weights_sha256=best["checkpoint_sha256"],
        score=score_checkpoint(params, directory, Path(root) / PREPARED, best["seed"]),
    )


def load_champion(root: Path) -> dict[str, Any] | None:
    """The current champion pointer, or None before the first promotion."""
    path = Path(root) / CHAMPION / POINTER
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: champion pointer is not valid JSON: {exc}") from None


def rescore_champion(params: Params, root: Path, champion: dict[str, Any]) -> float:
    """The champion's score on the current target-val images (its own copied checkpoint)."""
    return score_checkpoint(
        params, Path(root) / CHAMPION / "model", Path(root) / PREPARED, champion["seed"]
    )


def read_registry(root: Path) -> list[dict[str, Any]]:
    path = Path(root) / CHAMPION / REGISTRY
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def last_data_hash(root: Path) -> str | None:
    """The data hash of the latest decision that looked at data (None before the first)."""
    for entry in reversed(read_registry(root)):
        if entry.get("data_hash"):
            return entry["data_hash"]
    return None


def decide(
    params: Params,
    root: Path,
    summary: dict[str, Any],
    data_hash_now: str,
    min_improvement: float = 0.0,
) -> dict[str, Any]:
    """Compare the candidate with the champion on the validator; return the decision record."""
    root = Path(root)
    new = candidate(params, root, summary)
    champion = load_champion(root)
    before = None
    if champion is None:
        promote, reason = True, "no champion yet"
    else:
        before = {**champion, "score_now": rescore_champion(params, root, champion)}
        gain = new.score - before["score_now"]
        promote = gain > min_improvement
        reason = (
            f"{params.adapt.validator}: candidate {new.score:.4f} vs champion "
            f"{before['score_now']:.4f} ({'+' if gain >= 0 else ''}{gain:.4f}; "
            f"needs > {min_improvement:+.4f})"
        )
    return _record(params, root, data_hash_now, promote, reason, asdict(new), before)


def unchanged(params: Params, root: Path, data_hash_now: str) -> dict[str, Any]:
    """The decision when the watched data has not changed since the last one: nothing to do."""
    return _record(params, root, data_hash_now, False, "target data unchanged", None, None)


def _record(
    params: Params,
    root: Path,
    data_hash_now: str,
    promote: bool,
    reason: str,
    new: dict[str, Any] | None,
    before: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(root),
        "protocol": params.experiment.protocol,
        "data_hash": data_hash_now,
        "validator": params.adapt.validator,
        "candidate": new,
        "champion": before,
        "promoted": promote,
        "reason": reason,
    }


def promote(root: Path, decision: dict[str, Any]) -> dict[str, Any]:
    """Copy the candidate's checkpoint into models/champion/model and repoint champion.json."""
    root = Path(root)
    new = decision["candidate"]
    src = root / new["checkpoint"]
    with atomic_dir(root / CHAMPION / "model") as tmp:
        for name in (WEIGHTS, MANIFEST):
            shutil.copy2(src / name, Path(tmp) / name)
    model_dir = root / MODELS / BASELINES.get(new["model"], new["model"])
    pointer = {
        "model": model_dir.relative_to(root).as_posix(),
        "method": new["model"],
        "seed": new["seed"],
        "checkpoint": new["checkpoint"],
        "weights_sha256": new["weights_sha256"],
        "validator": decision["validator"],
        "score": new["score"],
        "data_hash": decision["data_hash"],
        "commit": decision["commit"],
        "promoted_at": decision["time"],
    }
    write_json(root / CHAMPION / POINTER, pointer)
    return pointer


def append_decision(root: Path, decision: dict[str, Any]) -> Path:
    """Append one line to the registry (never rewritten: an audit trail)."""
    path = Path(root) / CHAMPION / REGISTRY
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(decision, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return path
