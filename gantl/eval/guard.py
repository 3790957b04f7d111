"""The negative-transfer guard: which model to recommend when no target label may be read.

Recommend the adapted model the label-free validator scores best, unless none scores above
source-only; a model scored below source-only is flagged as negative transfer.
"""

from __future__ import annotations

from typing import Any


def guard_negative_transfer(
    results: dict[str, Any], methods: list[str], validator: str
) -> tuple[str, list[str]]:
    """(recommended model, warnings); marks `negative_transfer` on each adapted result."""
    baseline = results["source_only"]["validator_score_mean"]
    warnings, recommended, best = [], "source_only", baseline
    for method in methods:
        score = results[method]["validator_score_mean"]
        results[method]["negative_transfer"] = score < baseline
        if score < baseline:
            warnings.append(
                f"negative transfer: {validator} scores {method} ({score:.4f}) below source-only "
                f"({baseline:.4f}); source-only stays the recommended model"
            )
        elif score > best:
            recommended, best = method, score
    return recommended, warnings
