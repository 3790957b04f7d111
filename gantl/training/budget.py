"""Training length as a number of optimisation steps, whatever the data size.

A schedule written in epochs means very different amounts of training on 2,000 images and on
60,000. With `epochs: auto` a section trains for about `steps` optimisation steps instead: the
stage, once it knows its data, turns them into whole epochs, so a custom domain pair trains as
long as the named protocols do. Manifests record the epochs that ran.
"""

from __future__ import annotations

import math
from typing import TypeVar

from pydantic import BaseModel

Section = TypeVar("Section", bound=BaseModel)


def epochs_for(steps: int, steps_per_epoch: int) -> int:
    """The whole epochs that give at least `steps` steps (at least one epoch)."""
    return max(1, math.ceil(steps / max(1, steps_per_epoch)))


def resolve_epochs(cfg: Section, steps_per_epoch: int) -> Section:
    """`cfg` with `epochs: auto` replaced by `epochs_for(cfg.steps, steps_per_epoch)`."""
    if cfg.epochs != "auto":
        return cfg
    return cfg.model_copy(update={"epochs": epochs_for(cfg.steps, steps_per_epoch)})
