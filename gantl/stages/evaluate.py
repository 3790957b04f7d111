"""The evaluate stage: score every model on the target test split; guard against negative
transfer.

metrics/summary.json (the DVC metric), reports/models/<model>.json (per seed, per class),
plots/confusion/<model>.csv (first seed), plots/embedding/<model>.{csv,png} (first seed: a
t-SNE view of source and target test features beside the proxy A-distance).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gantl.checkpoint import load_classifier
from gantl.config import ENSEMBLE, T2S, Params
from gantl.data.store import PreparedSplit, read_split
from gantl.errors import DataError
from gantl.eval.embedding import Points, empty_folder, sample_points, write_embedding
from gantl.eval.guard import (
    CollapseLimits,
    collapse_reasons,
    divergence_reference,
    guard,
    prediction_spread,
    prior_top_share,
)
from gantl.eval.metrics import accuracy, classification_report, predict, predict_logits
from gantl.eval.validators import proxy_a_distance
from gantl.io import atomic_path, write_json
from gantl.models.ensemble import EnsembleClassifier
from gantl.runtime import resolve_device
from gantl.stages.inputs import load_adaptation_data
from gantl.stages.paths import (
    BASELINES,
    METRICS,
    MODEL_REPORTS,
    MODELS,
    PLOTS,
    PREPARED,
    checkpoint_dir,
    split_path,
    upper_bound_dir,
)
from gantl.training.data import AdaptationData
from gantl.training.selection import features_and_logits, validator_scores

log = logging.getLogger("gantl")
# score_model's result: row, target-test predictions, target-val logits, embedding sample
Scored = tuple[dict[str, Any], np.ndarray, torch.Tensor | None, Points | None]
SELECTION = {  # how each baseline's checkpoint was chosen, as the table prints it
    "source_only": "source-val acc",
    "oracle": "target labels (oracle)",
}


@dataclass(frozen=True)
class TestData:
    """What every model is scored on: both test splits, and the label-free validators' data."""

    target: PreparedSplit
    source: PreparedSplit
    adaptation: AdaptationData  # target-val without labels, for the validator score


def evaluate(
    params: Params,
    prepared: Path = PREPARED,
    models: Path = MODELS,
    metrics: Path = METRICS,
    plots: Path = PLOTS,
    reports: Path = MODEL_REPORTS,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """Score each model (default: source-only, oracle and every adapted model) on target test;
    recommend one without target labels."""
    seeds, validator = params.experiment.seeds, params.adapt.validator
    test = TestData(
        target=read_split(split_path(prepared, "target", "test")),
        source=read_split(split_path(prepared, "source", "test")),
        adaptation=load_adaptation_data(prepared, with_target_val_labels=False),
    )
    if not test.target.has_labels:
        raise DataError(
            f"{split_path(prepared, 'target', 'test')}: target test labels are needed to score "
            "models, but this target domain is unlabelled"
        )
    names = names or ["source_only", "oracle", *params.adapted_models, *params.evaluate.ensembles]
    results: dict[str, Any] = {}
    rows: dict[str, list[dict[str, Any]]] = {}
    val_logits: dict[str, dict[int, torch.Tensor]] = {}
    empty_folder(Path(plots) / "embedding")  # this run's views only; there even with none (DVC)
    for name in names:
        scored = [score_model(params, test, models, name, seed) for seed in seeds]
        rows[name] = [row for row, *_ in scored]
        val_logits[name] = {row["seed"]: logits for row, _, logits, _ in scored}
        results[name] = _aggregate(name, rows[name], validator)
        results[name] |= _write_plots(Path(plots), name, test, scored[0])
        log.info(
            "%s: target acc %.4f ± %.4f over %d seed(s)",
            *(name, results[name]["target_acc_mean"], results[name]["target_acc_std"], len(seeds)),
        )
    adapted = [n for n in names if n not in BASELINES and ENSEMBLE not in n]  # may be chosen
    _check_collapse(params, test, rows, results, adapted, val_logits)
    recommended, warnings, failed = guard(results, adapted, validator)
    for w in warnings:
        log.warning(w)
    for name in names:
        report = {"model": name, "per_seed": rows[name], **results[name]}
        write_json(Path(reports) / f"{name}.json", report)
    summary: dict[str, Any] = {
        "protocol": params.experiment.protocol,
        "source": {k: test.source.meta[k] for k in ("domain", "spec")},
        "target": {k: test.target.meta[k] for k in ("domain", "spec")},
        "seeds": seeds,
        "validator": validator,
        "n_target_test": len(test.target),
        "notes": sorted(set(test.source.meta["notes"]) | set(test.target.meta["notes"])),
        "results": results,
        "recommended": recommended,
        "adaptation_failed": failed,
        "warnings": warnings,
    }
    write_json(Path(metrics) / "summary.json", summary)
    return summary


def score_model(params: Params, test: TestData, models: Path, name: str, seed: int) -> Scored:
    """One model's seed: target accuracy (per class, confusion), source test accuracy, the
    validator's score and proxy A-distance, and the upper bound's accuracy where there is one;
    its target-test predictions; its target-val logits (not for the oracle); and a sample of the
    test features PAD measured, for the embedding (first seed; no oracle, no ensemble)."""
    cfg = params.evaluate
    device = resolve_device(cfg.device)
    x_t, y_t = test.target.tensors()
    x_s, y_s = test.source.tensors()
    model, manifest = load_model(models, name, seed)
    model.to(device)
    points = None
    y_pred = predict(model, x_t, cfg.batch_size, device).numpy()
    report = classification_report(y_t.numpy(), y_pred, test.target.meta["class_names"])
    row = {
        "seed": seed,
        "target_acc": report["accuracy"],
        "source_test_acc": accuracy(y_s, predict(model, x_s, cfg.batch_size, device)),
        "selected_epoch": manifest["metrics"]["best_epoch"],
        "per_class_acc": report["per_class_acc"],
        "confusion_matrix": report["confusion_matrix"],
        "checkpoint_sha256": manifest["weights_sha256"],
    }
    if name != "oracle":
        scores = validator_scores(model, test.adaptation, params.adapt, device, seed)
        row["validator_score"] = scores[params.adapt.validator]
        f_s, f_t = (features_and_logits(model, x, device)[0].numpy() for x in (x_s, x_t))
        row["proxy_a_distance"] = proxy_a_distance(f_s, f_t, seed=seed)
        if cfg.embedding_samples and ENSEMBLE not in name and seed == params.experiment.seeds[0]:
            points = sample_points(f_s, f_t, y_s.numpy(), y_t.numpy(), cfg.embedding_samples)
        logits_val = predict_logits(model, test.adaptation.x_t_val, cfg.batch_size, device)
        row |= prediction_spread(logits_val)  # target-val images, no labels
    else:
        logits_val = None
    bound_dir = upper_bound_dir(models, name, seed)
    if bound_dir is not None:
        bound, bound_manifest = load_classifier(bound_dir)
        y_bound = predict(bound.to(device), x_t, cfg.batch_size, device)
        row["target_acc_upper_bound"] = accuracy(y_t, y_bound)
        row["upper_bound_epoch"] = bound_manifest["metrics"]["best_epoch"]
    return row, y_pred, logits_val, points


def load_model(models: Path, name: str, seed: int) -> tuple[nn.Module, dict[str, Any]]:
    """A model's scored checkpoint; an ensemble ("a&b") is built from its members' checkpoints,
    its manifest's hash from theirs."""
    if ENSEMBLE not in name:
        return load_classifier(checkpoint_dir(models, name, seed))
    members = [load_classifier(checkpoint_dir(models, m, seed)) for m in name.split(ENSEMBLE)]
    hashes = "".join(manifest["weights_sha256"] for _, manifest in members)
    record = {
        "metrics": {"best_epoch": None},
        "weights_sha256": hashlib.sha256(hashes.encode()).hexdigest(),
    }
    return EnsembleClassifier([model for model, _ in members]).eval(), record


def _check_collapse(
    params: Params,
    test: TestData,
    rows: dict[str, list[dict[str, Any]]],
    results: dict[str, Any],
    adapted: list[str],
    val_logits: dict[str, dict[int, torch.Tensor]],
) -> None:
    """Per seed, whether each adapted model's target-val predictions collapsed, or diverged
    from the consensus of the other models that did not collapse (gantl.eval.guard); recorded
    per row and as results[name]["collapse"][seed]."""
    cfg = params.evaluate
    limits = CollapseLimits(
        cfg.collapse_entropy_ratio,
        cfg.collapse_top_share,
        cfg.confident_share,
        cfg.min_confident_agreement,
        cfg.min_corroborated_agreement,
    )
    prior_top = prior_top_share(test.adaptation.y_s, len(test.target.meta["class_names"]))
    baseline = {r["seed"]: r for r in rows["source_only"]}
    by_seed = {name: {r["seed"]: r for r in rows[name]} for name in adapted}
    for seed, base in baseline.items():
        seeded = [name for name in adapted if seed in by_seed[name]]
        spread_ok = {
            name
            for name in seeded
            if not collapse_reasons(by_seed[name][seed], base, prior_top, limits)
        }
        logits = {name: val_logits[name][seed] for name in ["source_only", *seeded]}
        agreement, reference = divergence_reference(
            logits, spread_ok, limits.confident_share, limits.min_agreement
        )
        for name in seeded:
            by_seed[name][seed]["confident_agreement"] = agreement[name]
            by_seed[name][seed]["agreement_reference"] = reference[name]
    for name in adapted:
        values = [r["confident_agreement"] for r in rows[name]]
        results[name]["confident_agreement_mean"] = sum(values) / len(values)
        # per seed, as target_acc_per_seed: corroborated:<model>, source_only or consensus
        results[name]["agreement_reference"] = [r["agreement_reference"] for r in rows[name]]
        results[name]["collapse"] = {
            r["seed"]: collapse_reasons(r, baseline[r["seed"]], prior_top, limits)
            for r in rows[name]
        }


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def _aggregate(name: str, per_seed: list[dict], validator: str) -> dict[str, Any]:
    """Mean ± std over seeds of what `score_model` measured."""
    mean, std = _mean_std([r["target_acc"] for r in per_seed])
    selection = SELECTION.get(name) or (
        "the members' checkpoints"
        if ENSEMBLE in name
        else "its base model's checkpoint"
        if name.endswith(T2S)
        else "translated-source val acc"
        if name.endswith("+source_only")
        else f"validator {validator}"
    )
    out: dict[str, Any] = {
        "target_acc_mean": mean,
        "target_acc_std": std,
        "target_acc_per_seed": [r["target_acc"] for r in per_seed],
        "source_test_acc_mean": _mean_std([r["source_test_acc"] for r in per_seed])[0],
        "selection": selection,
    }
    if "validator_score" in per_seed[0]:
        out["validator_score_mean"] = _mean_std([r["validator_score"] for r in per_seed])[0]
        for key in ("mean_pred_entropy", "top_class_share"):
            out[f"{key}_mean"] = _mean_std([r[key] for r in per_seed])[0]
        out["proxy_a_distance_mean"] = _mean_std([r["proxy_a_distance"] for r in per_seed])[0]
    if "target_acc_upper_bound" in per_seed[0]:
        bound = [r["target_acc_upper_bound"] for r in per_seed]
        out["target_acc_upper_bound_mean"], out["target_acc_upper_bound_std"] = _mean_std(bound)
    return out


def _write_plots(plots: Path, name: str, test: TestData, first: Scored) -> dict[str, str]:
    """The first seed's plots: its confusion pairs, and where the model has a sample, the t-SNE
    view of its test features titled with its PAD, whose path it returns for the report."""
    row, y_pred, _, points = first
    _write_confusion(plots / "confusion" / f"{name}.csv", test.target, y_pred)
    if points is None:
        return {}
    names = test.target.meta["class_names"]
    png = write_embedding(plots / "embedding", name, points, names, row["proxy_a_distance"])
    return {"embedding": png.as_posix()}


def _write_confusion(path: Path, target_test: PreparedSplit, y_pred: np.ndarray) -> None:
    """One line per test image (actual, predicted): the input of DVC's confusion template."""
    names = target_test.meta["class_names"]
    y_true = target_test.tensors()[1].numpy()
    lines = ["actual,predicted"]
    lines += [f"{names[a]},{names[p]}" for a, p in zip(y_true, y_pred, strict=True)]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
