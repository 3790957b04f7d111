"""Saving what an adaptation run chose: the validator's checkpoint and the upper bound's."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gantl.checkpoint import save_checkpoint
from gantl.training.selection import UPPER_BOUND, AdaptResult

log = logging.getLogger("gantl")
LOGGED = ("loss", "domain_acc", "target_val_acc", "div")  # history keys worth a log line


def picks_metrics(result: AdaptResult) -> dict[str, Any]:
    """The manifest's metrics of an adaptation run: which epoch each validator picks."""
    return {
        "validator": result.validator,
        "best_epoch": result.picks[result.validator],
        "picks": result.picks,
        "history": result.history,
    }


def save_picks(result: AdaptResult, record: dict[str, Any], out: Path) -> None:
    """out/selected (the validator's pick) and out/upper_bound (target-val labels' pick)."""
    save_checkpoint(Path(out) / "selected", result.selected, record)
    if result.upper_bound is not None:
        bound = {**record["metrics"], "best_epoch": result.picks[UPPER_BOUND]}
        save_checkpoint(Path(out) / "upper_bound", result.upper_bound, {**record, "metrics": bound})


def log_history(name: str, seed: int, result: AdaptResult, epochs: int) -> None:
    """One log line per validated epoch, then the validator's pick."""
    for record in result.history:
        if result.validator not in record:
            continue  # an epoch between validations
        logged = "  ".join(f"{k} {v:.3f}" for k, v in record.items() if k.endswith(LOGGED))
        log.info(
            "  epoch %d/%d  %s  %s=%.4f  (%.1fs)",
            *(record["epoch"], epochs, logged, result.validator, record[result.validator]),
            record["seconds"],
        )
    pick = result.picks[result.validator]
    log.info("%s seed %d: %s picks epoch %d", name, seed, result.validator, pick)
