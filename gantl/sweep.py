"""Experiment sweeps: a grid of (method, seed, params) points and the leaderboard of results.

Each point is one DVC experiment (`dvc exp run --temp -S key=value …`, run by flows/sweep.py),
so every result is reproducible from its params and DVC reuses whatever stages a point shares
with the last commit. This module only builds the grid and reads `dvc exp show --json` back; it
does not call DVC itself.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from gantl.config import parse_method
from gantl.errors import ConfigError


@dataclass(frozen=True)
class Point:
    """One experiment of the grid: its name and the params it sets."""

    name: str
    method: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)  # the swept extras, dotted keys

    def overrides(self) -> list[str]:
        """`dvc exp run -S` arguments: run only this method, on only this seed."""
        gan, base = parse_method(self.method) if self.method != "source_only" else (None, "")
        sets = {"experiment.seeds": [self.seed]}
        if gan is None:
            sets |= {"adapt.methods": [] if self.method == "source_only" else [self.method]}
            sets |= {"adapt.pixel_methods": []}
        else:
            sets |= {"adapt.methods": [], "adapt.pixel_methods": [base], "translate.gan": gan}
        sets |= self.params
        return [f"{key}={json.dumps(value)}" for key, value in sets.items()]


def parse_set(text: str) -> tuple[str, list[Any]]:
    """`dann.lr=0.01,0.02` → ("dann.lr", [0.01, 0.02]); values are YAML/JSON scalars."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ConfigError(f"--set {text!r}: expected key=value[,value…], e.g. dann.lr=0.01,0.02")
    parsed = []
    for raw in values.split(","):
        try:
            parsed.append(json.loads(raw))
        except json.JSONDecodeError:
            parsed.append(raw.strip())
    return key.strip(), parsed


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def grid(
    methods: list[str],
    seeds: list[int],
    sets: dict[str, list[Any]] | None = None,
    prefix: str = "sweep",
) -> list[Point]:
    """Every combination of method × seed × swept param values, with unique experiment names."""
    if not methods or not seeds:
        raise ConfigError("sweep: give at least one method and one seed")
    for method in methods:
        if method != "source_only":
            parse_method(method)  # a clear error for an unknown method
    sets = sets or {}
    keys = list(sets)
    points = []
    for method, seed, *values in itertools.product(methods, seeds, *sets.values()):
        extra = dict(zip(keys, values, strict=True))
        suffix = "".join(f"-{_slug(k.split('.')[-1])}{_slug(str(v))}" for k, v in extra.items())
        name = _slug(f"{prefix}-{method.replace('+', '_')}-s{seed}{suffix}")
        points.append(Point(name=name, method=method, seed=seed, params=extra))
    return points


def _experiments(show: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """name → data of every experiment in `dvc exp show --json` output."""
    found = {}
    for commit in show:
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs") or []:
                if rev.get("name") and rev.get("data"):
                    found[rev["name"]] = {"rev": rev["rev"], **rev["data"]}
    return found


def leaderboard(points: list[Point], show: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per point from its experiment's metrics/summary.json, best target acc first.

    Points whose experiment is missing (failed) are listed last with their error.
    """
    experiments = _experiments(show)
    rows = []
    for point in points:
        exp = experiments.get(point.name)
        row: dict[str, Any] = {
            "experiment": point.name,
            "method": point.method,
            "seed": point.seed,
            **point.params,
        }
        summary = ((exp or {}).get("metrics") or {}).get("metrics/summary.json", {}).get("data")
        if summary is None or point.method not in summary.get("results", {}):
            rows.append({**row, "error": "no metrics (the experiment failed or was not run)"})
            continue
        result, baseline = summary["results"][point.method], summary["results"]["source_only"]
        rows.append(
            {
                **row,
                "rev": exp["rev"][:12],
                "target_acc": result["target_acc_mean"],
                "validator": summary["validator"],
                "validator_score": result.get("validator_score_mean"),
                "target_acc_upper_bound": result.get("target_acc_upper_bound_mean"),
                "source_only_acc": baseline["target_acc_mean"],
                "oracle_acc": summary["results"]["oracle"]["target_acc_mean"],
            }
        )
    return sorted(rows, key=lambda r: ("error" in r, -r.get("target_acc", 0.0)))


def leaderboard_markdown(rows: list[dict[str, Any]], title: str = "Sweep leaderboard") -> str:
    """The leaderboard as a markdown table (target accuracy in %, validator-selected)."""
    extras = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in _KNOWN]
    header = [
        "#",
        "experiment",
        "method",
        "seed",
        *extras,
        "target acc",
        "validator score",
        "upper bound†",
        "source-only",
        "oracle",
    ]
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, r in enumerate(rows, 1):
        point = [str(i), r["experiment"], r["method"], str(r["seed"])]
        point += [str(r.get(k, "")) for k in extras]
        if "error" in r:
            cells = [*point, r["error"], "", "", "", ""]
        else:
            bound = r["target_acc_upper_bound"]
            cells = [
                *point,
                f"{100 * r['target_acc']:.2f}",
                "–" if r["validator_score"] is None else f"{r['validator_score']:.4f}",
                "–" if bound is None else f"{100 * bound:.2f}",
                f"{100 * r['source_only_acc']:.2f}",
                f"{100 * r['oracle_acc']:.2f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Target accuracy of the checkpoint the label-free validator chose; † chosen with "
        "target-val labels (an upper bound, not an honest result).",
    ]
    return "\n".join(lines) + "\n"


_KNOWN = {
    "experiment",
    "method",
    "seed",
    "rev",
    "target_acc",
    "validator",
    "validator_score",
    "target_acc_upper_bound",
    "source_only_acc",
    "oracle_acc",
    "error",
}
