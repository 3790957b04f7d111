"""Training length: a number of optimisation steps whatever the data size, or a time budget.

A schedule written in epochs means very different amounts of training on 2,000 images and on
60,000. With `epochs: auto` a section trains for about `steps` optimisation steps instead: the
stage, once it knows its data, turns them into whole epochs, so a custom domain pair trains as
long as the named protocols do. A translator gets minutes instead (`translate.budget_minutes`,
`TimeBudget`): a GAN epoch's cost varies too much across hardware for a fixed count to bound it.
Manifests record the epochs that ran.
"""

from __future__ import annotations

import math
from typing import TypeVar

from pydantic import BaseModel

from gantl.training.schedules import linear_decay

Section = TypeVar("Section", bound=BaseModel)


def epochs_for(steps: int, steps_per_epoch: int) -> int:
    """The whole epochs that give at least `steps` steps (at least one epoch)."""
    return max(1, math.ceil(steps / max(1, steps_per_epoch)))


def resolve_epochs(cfg: Section, steps_per_epoch: int) -> Section:
    """`cfg` with `epochs: auto` replaced by `epochs_for(cfg.steps, steps_per_epoch)`."""
    if cfg.epochs != "auto":
        return cfg
    return cfg.model_copy(update={"epochs": epochs_for(cfg.steps, steps_per_epoch)})


class TimeBudget:
    """Fits a GAN's `epochs` (the last `decay_epochs` of them with a falling learning rate) into
    `minutes` of wall time.

    After each epoch the number of epochs that fit is re-estimated from the mean epoch time so
    far (metrics included). The plan only shrinks, and its decay phase shrinks in proportion, so
    a run cut short still ends on an annealed learning rate instead of stopping mid-plateau. At
    least one epoch always runs. `minutes=None` is no budget: the configured epochs run, and the
    result is the same on every machine; under a budget the epoch count depends on its speed
    (the manifest records the epochs that ran).
    """

    def __init__(self, epochs: int, decay_epochs: int, minutes: float | None = None) -> None:
        self.epochs, self.decay_epochs, self.minutes = epochs, decay_epochs, minutes
        self.planned = epochs

    @property
    def decay(self) -> int:
        return round(self.decay_epochs * self.planned / self.epochs)

    def lr_factor(self, epoch: int) -> float:
        """The learning-rate multiplier of `epoch` under the current plan."""
        return linear_decay(epoch, self.planned, self.decay)

    def update(self, done: int, seconds: float) -> None:
        """Re-plan after `done` epochs that took `seconds` in all."""
        if self.minutes is None or done == 0:
            return
        fit = math.floor(self.minutes * 60 * done / max(seconds, 1e-9))
        self.planned = max(done, min(self.planned, fit))

    def more(self, done: int) -> bool:
        """Whether another epoch runs after `done`."""
        return done < self.planned
