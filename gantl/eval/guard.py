"""The guard: which model to recommend when no target label may be read.

A label-free validator can be fooled. Confidence-based scores (`neg_entropy`) reward a model
whose target predictions have collapsed onto a few classes, since a collapsed model is
confident. So before the validator's choice is trusted, each adapted model's target-val
predictions (images only, no labels) are checked against source-only's:

    collapsed  if  H(p̄_model) < entropy_ratio · H(p̄_source_only)
               or  top share > π_max + top_share · (1 − π_max)

where p̄ is the mean softmax prediction over target val, H its entropy (how many classes the
model still predicts), the top share is the fraction of target-val images given the most
predicted class, and π_max the largest class share of the labelled source train split (the
class prior the classifier learned). A model is collapsed when any of its seeds is.

Collapse is not the only silent failure: a model can spread its predictions over every class
and still have swapped them (on a large shift, adversarial alignment may match the wrong
clusters, and self-training then locks the swap in). Source-only's *most confident* target
predictions are far more accurate than its average (MNIST → MNIST-M, seed 0: 57 % overall, 98 %
on its surest quarter), and a model that adapted well keeps them: 87–100 % agreement for
every adapted model measured on the digit benchmarks and the default run, against 73–75 % for
a pixel-level model whose translator lost the labels (51 % accurate, below ADDA's 78 %). So a
model also fails the guard when

    diverged   if  agreement with source-only on the `confident_share` of target-val images
                   source-only is surest of  <  min_agreement

Then: recommend the adapted model the validator scores best among those neither collapsed nor
scored below source-only (negative transfer); when none is left, adaptation failed on this
pair, the summary says so plainly, and source-only is recommended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class CollapseLimits:
    entropy_ratio: float = 0.7  # H(p̄) below 70% of source-only's: whole classes have vanished
    top_share: float = 0.5  # one class takes over half the way from the prior's top share to 1
    confident_share: float = 0.25  # source-only's surest quarter of target val …
    min_agreement: float = 0.8  # … on which an adapted model must agree with it this often


def prediction_spread(logits: torch.Tensor) -> dict[str, float]:
    """How spread a model's target predictions are: the entropy of the mean prediction (nats)
    and the share of the most-predicted class."""
    p = torch.softmax(logits.double(), dim=1)
    mean = p.mean(0)
    entropy = float(-(mean * mean.clamp_min(1e-12).log()).sum())
    counts = torch.bincount(p.argmax(1), minlength=p.shape[1])
    return {"mean_pred_entropy": entropy, "top_class_share": float(counts.max()) / len(p)}


def prior_top_share(labels: torch.Tensor, num_classes: int) -> float:
    """π_max: the largest class share of a labelled split."""
    return float(torch.bincount(labels, minlength=num_classes).max()) / max(1, len(labels))


def confident_agreement(
    predictions: torch.Tensor, source_logits: torch.Tensor, share: float
) -> float:
    """How often `predictions` (N) match source-only's on the `share` of the images source-only
    gives its most confident predictions (its max softmax probability)."""
    confidence, source_pred = torch.softmax(source_logits.double(), dim=1).max(1)
    k = max(1, round(share * len(confidence)))
    surest = torch.argsort(confidence, descending=True, stable=True)[:k]
    return float((predictions[surest] == source_pred[surest]).double().mean())


def collapse_reasons(
    spread: dict[str, float], baseline: dict[str, float], prior_top: float, limits: CollapseLimits
) -> list[str]:
    """Why one seed's predictions count as collapsed (empty: they do not)."""
    reasons = []
    floor = limits.entropy_ratio * baseline["mean_pred_entropy"]
    if spread["mean_pred_entropy"] < floor:
        reasons.append(
            f"entropy of the mean prediction {spread['mean_pred_entropy']:.2f} nats < "
            f"{limits.entropy_ratio:g} × source-only's {baseline['mean_pred_entropy']:.2f}"
        )
    ceiling = prior_top + limits.top_share * (1 - prior_top)
    if spread["top_class_share"] > ceiling:
        reasons.append(
            f"{100 * spread['top_class_share']:.0f}% of target images get one class "
            f"(source prior's largest class: {100 * prior_top:.0f}%)"
        )
    agreement = spread.get("confident_agreement")
    if agreement is not None and agreement < limits.min_agreement:
        reasons.append(
            f"agrees with source-only on only {100 * agreement:.0f}% of the "
            f"{100 * limits.confident_share:.0f}% of target images source-only is surest of "
            f"(limit {100 * limits.min_agreement:.0f}%): classes swapped or lost"
        )
    return reasons


def guard(
    results: dict[str, Any], methods: list[str], validator: str
) -> tuple[str, list[str], bool]:
    """(recommended model, warnings, adaptation failed) from the evaluate stage's results.

    Marks `negative_transfer` and `collapsed` on each adapted result. A result's `collapse`
    entry (per-seed reasons, from `collapse_reasons`) says whether it collapsed.
    """
    baseline = results["source_only"]["validator_score_mean"]
    warnings, recommended, best = [], "source_only", baseline
    for method in methods:
        r = results[method]
        score = r["validator_score_mean"]
        r["negative_transfer"] = score < baseline
        r["collapsed"] = any(r.get("collapse", {}).values())
        if r["collapsed"]:
            seeds = {s: why for s, why in r["collapse"].items() if why}
            detail = "; ".join(f"seed {s}: {', '.join(why)}" for s, why in seeds.items())
            warnings.append(
                f"collapsed or diverged predictions: {method} is never recommended ({detail})"
            )
        elif r["negative_transfer"]:
            warnings.append(
                f"negative transfer: {validator} scores {method} ({score:.4f}) below source-only "
                f"({baseline:.4f}); source-only stays the recommended model"
            )
        elif score > best:
            recommended, best = method, score
    failed = bool(methods) and all(
        results[m]["collapsed"] or results[m]["negative_transfer"] for m in methods
    )
    if failed:
        warnings.append(
            "adaptation failed on this pair: every adapted model collapsed or scored below "
            "source-only, so source-only is recommended"
        )
    return recommended, warnings, failed
