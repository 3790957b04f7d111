"""Saving what an adaptation run chose: the validator's checkpoint and the upper bound's."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gantl.checkpoint import save_checkpoint
from gantl.training.selection import UPPER_BOUND, AdaptResult

log = logging.getLogger("gantl")


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


def log_pick(name: str, seed: int, result: AdaptResult) -> None:
    """The epoch the validator picked (each epoch was logged as it ended, by KeepBest)."""
    pick = result.picks[result.validator]
    log.info("%s seed %d: %s picks epoch %d", name, seed, result.validator, pick)
