"""The validator study on hand-built checkpoint traces: ρ, chosen accuracy and gap by hand."""

from __future__ import annotations

import pytest

from gantl.eval.validator_study import best_validator, study, study_markdown


def _trace(neg_entropy: list[float], im: list[float], acc: list[float]) -> list[dict]:
    return [
        {"epoch": i + 1, "neg_entropy": n, "im": m, "target_val_acc": a, "target_test_acc": a}
        for i, (n, m, a) in enumerate(zip(neg_entropy, im, acc, strict=True))
    ]


RECORD = {
    "protocol": "p",
    "commit": "abc",
    "checkpoints": {
        # neg_entropy ranks run 0 perfectly and run 1 backwards; im ranks both perfectly
        "dann": {
            "0": _trace([1, 2, 3], [1, 2, 3], [0.5, 0.6, 0.7]),
            "1": _trace([3, 2, 1], [4, 5, 6], [0.8, 0.9, 1.0]),
        }
    },
}


def test_rank_correlation_choice_and_gap_by_hand():
    rows = study([RECORD])["protocols"]["p"]
    # pooled: 6 checkpoints; im's scores and the accuracies have the same order → ρ = 1
    assert rows["im"]["spearman"] == pytest.approx(1.0)
    # neg_entropy ranks (1, 2, 3, 3, 2, 1) [average ranks 1.5, 3.5, 5.5, 5.5, 3.5, 1.5]
    # against accuracy ranks (1, 2, 3, 4, 5, 6): ρ = Pearson of the ranks = 0
    assert rows["neg_entropy"]["spearman"] == pytest.approx(0.0)
    # picks: im → 0.7 and 1.0; neg_entropy → 0.7 and 0.8; best checkpoints 0.7 and 1.0
    assert rows["im"]["chosen_acc"] == pytest.approx(85.0)
    assert rows["neg_entropy"]["chosen_acc"] == pytest.approx(75.0)
    assert rows["neg_entropy"]["upper_bound"] == pytest.approx(85.0)
    assert rows["neg_entropy"]["gap"] == pytest.approx(10.0)
    assert rows["im"]["gap"] == 0 and rows["im"]["runs"] == 2
    assert "snd" not in rows  # a validator no checkpoint carries is not reported


def test_best_validator_minimises_the_worst_gap_and_markdown_marks_the_default():
    result = study([RECORD])
    assert best_validator(result) == "im"  # target_val_acc reads labels: never a candidate
    markdown = study_markdown(result, "neg_entropy")
    assert "## p" in markdown and "| **neg_entropy** |" in markdown
    assert "Smallest worst-case gap: **im**" in markdown


def test_records_without_traces_are_skipped():
    assert study([{"protocol": "q", "checkpoints": {}}])["protocols"] == {}
