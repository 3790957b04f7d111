"""The one shape of a checkpoint manifest, whatever stage writes it (DESIGN: checkpoints).

gantl.checkpoint adds the architecture, weights hash, git commit and package versions on save.
"""

from __future__ import annotations

from typing import Any


def manifest(
    *,
    stage: str,
    params: dict[str, Any],
    inputs: dict[str, str | None],
    seed: int,
    device: str,
    seconds: float,
    metrics: dict[str, Any],
    **about: Any,
) -> dict[str, Any]:
    """stage, what it is `about` (method, trained_on, …), the params sections it ran with, its
    inputs' SHA-256, seed, device, wall time and metrics."""
    return {
        "stage": stage,
        **about,
        "params": params,
        "inputs": inputs,
        "seed": seed,
        "device": device,
        "wall_time_s": round(seconds, 3),
        "metrics": metrics,
    }
