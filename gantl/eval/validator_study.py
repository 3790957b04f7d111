"""Which label-free validator to trust: the evidence from benchmark runs.

A validator is only useful when its score ranks checkpoints as target accuracy does (Musgrave,
Belongie & Lim 2022, "Benchmarking Validation Methods for Unsupervised Domain Adaptation").
Benchmarks record, for every scored checkpoint of every adapted run, each validator's score and
the target-test accuracy (`adapt.trace_test`). Per protocol this module reports, for each
validator:

- `spearman`: the rank correlation of its scores with target-test accuracy over every
  checkpoint of every run (all methods and seeds pooled, as a user choosing among them would);
- `chosen_acc`: the mean over runs of the test accuracy of the checkpoint it picks;
- `gap`: how far that is below `upper_bound`, the mean over runs of the best checkpoint's test
  accuracy (what target labels would pick).

`target_val_acc` reads target-val labels; it is listed as a reference, never as a candidate.
"""

from __future__ import annotations

import math
from typing import Any

from scipy.stats import spearmanr

from gantl.config import VALIDATORS
from gantl.training.selection import TRACED_TEST, UPPER_BOUND

Trace = list[dict[str, float]]  # one run's scored checkpoints


def runs(record: dict[str, Any]) -> list[tuple[str, str, Trace]]:
    """(model, seed, checkpoints) for every traced run of one bench record."""
    return [
        (model, seed, trace)
        for model, seeds in sorted(record.get("checkpoints", {}).items())
        for seed, trace in sorted(seeds.items())
    ]


def _finite(trace: Trace, name: str) -> Trace:
    return [r for r in trace if name in r and not math.isnan(r[name])]


def study_protocol(traced: list[tuple[str, str, Trace]]) -> dict[str, dict[str, Any]]:
    """Every validator's rank correlation, chosen accuracy and gap over these runs."""
    best = [max(r[TRACED_TEST] for r in trace) for _, _, trace in traced]
    upper = 100 * sum(best) / len(best)
    rows: dict[str, dict[str, Any]] = {}
    for name in (*VALIDATORS, UPPER_BOUND):
        scores, accs, chosen = [], [], []
        for _, _, trace in traced:
            scored = _finite(trace, name)
            if not scored:
                continue
            scores += [r[name] for r in scored]
            accs += [r[TRACED_TEST] for r in scored]
            pick = max(scored, key=lambda r: r[name])  # the first of ties, as the picker keeps
            chosen.append(pick[TRACED_TEST])
        if not chosen:
            continue
        rho = spearmanr(scores, accs).statistic if len(set(scores)) > 1 else float("nan")
        chosen_acc = 100 * sum(chosen) / len(chosen)
        rows[name] = {
            "spearman": None if math.isnan(rho) else round(float(rho), 4),
            "chosen_acc": round(chosen_acc, 4),
            "upper_bound": round(upper, 4),
            "gap": round(upper - chosen_acc, 4),
            "runs": len(chosen),
            "checkpoints": len(scores),
        }
    return rows


def study(records: list[dict[str, Any]]) -> dict[str, Any]:
    """protocol → validator → figures, over every run of the records (grouped by protocol)."""
    by_protocol: dict[str, list[tuple[str, str, Trace]]] = {}
    sources: dict[str, list[str]] = {}
    for record in records:
        traced = runs(record)
        if traced:
            by_protocol.setdefault(record["protocol"], []).extend(traced)
            sources.setdefault(record["protocol"], []).append(record.get("commit") or "?")
    return {
        "protocols": {p: study_protocol(t) for p, t in sorted(by_protocol.items())},
        "models": {p: sorted({m for m, _, _ in t}) for p, t in sorted(by_protocol.items())},
        "commits": sources,
    }


def best_validator(result: dict[str, Any]) -> str | None:
    """The label-free validator with the smallest worst-case gap across protocols (ties: the
    smaller mean gap)."""
    gaps: dict[str, list[float]] = {}
    for rows in result["protocols"].values():
        for name, row in rows.items():
            if name != UPPER_BOUND:
                gaps.setdefault(name, []).append(row["gap"])
    return min(gaps, key=lambda n: (max(gaps[n]), sum(gaps[n]) / len(gaps[n]), n), default=None)


def study_markdown(result: dict[str, Any], default: str) -> str:
    """One table per protocol: ρ, chosen accuracy and gap for each validator."""
    lines = [
        "# Label-free validators against target-test accuracy",
        "",
        "Every scored checkpoint of every adapted run in the benchmark records (all methods and",
        "seeds pooled). ρ: Spearman rank correlation of the validator's score with target-test",
        "accuracy. chosen: mean test accuracy of the checkpoint it picks in each run. gap: how far",
        "that is below the best checkpoint of each run (what target labels would pick).",
        f"`{UPPER_BOUND}` reads target-val labels and is shown for reference only.",
        "",
        f"Default validator (`adapt.validator`): **{default}**. "
        f"Smallest worst-case gap: **{best_validator(result)}**.",
    ]
    for protocol, rows in result["protocols"].items():
        models = ", ".join(result["models"][protocol])
        lines += ["", f"## {protocol}", "", f"Runs of: {models}.", ""]
        lines += ["| validator | ρ | chosen (%) | upper bound (%) | gap (pt) | runs |"]
        lines += ["|---|---:|---:|---:|---:|---:|"]
        order = sorted(rows, key=lambda n: (n == UPPER_BOUND, rows[n]["gap"], n))
        for name in order:
            r = rows[name]
            rho = "–" if r["spearman"] is None else f"{r['spearman']:+.3f}"
            label = f"**{name}**" if name == default else name
            lines.append(
                f"| {label} | {rho} | {r['chosen_acc']:.2f} | {r['upper_bound']:.2f} "
                f"| {r['gap']:.2f} | {r['runs']} |"
            )
    return "\n".join(lines) + "\n"
