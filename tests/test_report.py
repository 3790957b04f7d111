"""The results table and the negative-transfer guard."""

from __future__ import annotations

from gantl.eval.guard import guard
from gantl.report import summary_markdown, summary_rows


def _result(acc: float, score: float | None = None, bound: float | None = None) -> dict:
    r = {
        "target_acc_mean": acc,
        "target_acc_std": 0.01,
        "source_test_acc_mean": 0.9,
        "selection": "s",
    }
    if score is not None:
        r |= {"validator_score_mean": score, "proxy_a_distance_mean": 1.5}
    if bound is not None:
        r |= {"target_acc_upper_bound_mean": bound, "target_acc_upper_bound_std": 0.0}
    return r


def test_guard_keeps_source_only_when_every_method_scores_below_it():
    results = {
        "source_only": _result(0.7, -0.3),
        "dann": _result(0.8, -0.4),
        "adda": _result(0.6, -0.5),
    }
    recommended, warnings, failed = guard(results, ["dann", "adda"], "neg_entropy")
    assert recommended == "source_only" and failed
    assert len(warnings) == 3 and "negative transfer" in warnings[0]
    assert "adaptation failed on this pair" in warnings[-1]
    assert results["dann"]["negative_transfer"] and results["adda"]["negative_transfer"]


def test_guard_recommends_the_best_scoring_adapted_model():
    results = {
        "source_only": _result(0.7, -0.3),
        "dann": _result(0.8, -0.2),
        "adda": _result(0.9, -0.1),
    }
    recommended, warnings, failed = guard(results, ["dann", "adda"], "neg_entropy")
    assert recommended == "adda" and warnings == [] and not failed
    assert results["dann"]["negative_transfer"] is False


def test_guard_never_recommends_a_collapsed_model_however_well_it_scores():
    results = {
        "source_only": _result(0.7, -0.3),
        "dann": _result(0.8, -0.2),
        "adda": {**_result(0.05, -0.01), "collapse": {0: [], 1: ["one class takes 90%"]}},
    }
    recommended, warnings, failed = guard(results, ["dann", "adda"], "neg_entropy")
    assert recommended == "dann" and not failed
    assert results["adda"]["collapsed"] and not results["dann"]["collapsed"]
    assert warnings == [
        "collapsed or diverged predictions: adda is never recommended (seed 1: one class takes 90%)"
    ]


def test_table_shows_mean_std_upper_bound_and_flags():
    summary = {
        "protocol": "p",
        "source": {"domain": "a", "spec": "bundled:a"},
        "target": {"domain": "b", "spec": "bundled:b"},
        "n_target_test": 10,
        "seeds": [0, 1],
        "validator": "neg_entropy",
        "recommended": "source_only",
        "warnings": ["negative transfer: x"],
        "notes": ["a note"],
        "results": {
            "source_only": _result(0.7, -0.3),
            "adda": {**_result(0.6, -0.5, bound=0.95), "negative_transfer": True},
        },
    }
    rows = {r["model"]: r for r in summary_rows(summary)}
    assert rows["source_only ★"]["target acc"] == "70.00 ± 1.00"
    assert rows["adda"]["target acc"].endswith("⚠ negative transfer")
    assert rows["adda"]["upper bound†"] == "95.00"
    markdown = summary_markdown(summary)
    assert "| adda | 60.00 ± 1.00 ⚠ negative transfer | 95.00 |" in markdown
    assert "- note: a note" in markdown and "- negative transfer: x" in markdown


def test_terminal_table_fits_80_columns_with_each_choice_on_one_line():
    """The CLI's table at 80 columns: no line wider, every row one line, the way each
    checkpoint was chosen whole, and the ⚠ of a flagged model explained below the table."""
    from rich.console import Console

    from gantl import cli

    summary = {
        "protocol": "mnist5k-mnistm",
        "source": {"domain": "mnist5k", "spec": "bundled:mnist5k"},
        "target": {"domain": "mnistm", "spec": "synthetic:mnistm"},
        "n_target_test": 5000,
        "seeds": [0, 1, 2],
        "validator": "dev",
        "recommended": "adda+refine",
        "warnings": ["cyclegan+source_only: negative transfer"],
        "notes": [],
        "results": {
            "source_only": {**_result(0.567, -0.3), "selection": "source-val acc"},
            "oracle": {**_result(0.95), "selection": "target labels (oracle)"},
            "adda": {**_result(0.824, -0.2, bound=0.85), "selection": "validator dev"},
            "cyclegan+source_only": {
                **_result(0.521, -0.4, bound=0.55),
                "selection": "translated-source val acc",
                "negative_transfer": True,
            },
            "adda+refine": {**_result(0.858, -0.1, bound=0.87), "selection": "validator dev"},
        },
    }
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    cli.out, saved = console, cli.out
    try:
        cli.print_summary(summary)
    finally:
        cli.out = saved
        console.file.close()
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    for model, chosen in [
        ("source_only", "source val"),
        ("oracle", "target labels"),
        ("adda", "validator dev"),
        ("cyclegan+source_only ⚠", "translated val"),
        ("adda+refine ★", "validator dev"),
    ]:
        (row,) = [line for line in lines if line.lstrip().startswith(model + " ")]
        assert row.rstrip().endswith(chosen), row
    assert any(line.startswith("⚠ flagged by the guard") for line in lines)
