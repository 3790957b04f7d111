"""The epoch loop every translator shares around its own batches.

CycleGAN, StarGAN and PixelDA differ in their networks, losses and batches (their files say
how, as their papers do); they train the same way around them: resume from the last saved
state, fit the epochs into a time budget whose learning-rate decay shrinks with it, score each
epoch and keep the best one's weights, and save a resumable state every few epochs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from gantl.training.best import BestWeights, resume_best
from gantl.training.budget import TimeBudget
from gantl.training.resume import Resumable, fingerprint

log = logging.getLogger("gantl")


@dataclass(frozen=True)
class LoopOutcome:
    history: list[dict]  # per epoch: what the epoch and `on_epoch` returned, and its seconds
    resumed_from: int  # the epoch a resumed run continued after (0: a fresh run)
    last_epoch: int
    seconds: float  # this call's wall time (a resumed run's earlier epochs not included)


class GanSchedule(Protocol):
    """What a translator's config section holds for the loop."""

    epochs: int
    decay_epochs: int
    checkpoint_every: int

    def model_dump(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class EpochLoop:
    """`run` trains epochs until the budget's plan is done; `best` ends up holding the
    best-scoring epoch's weights (with `score`), restored into its modules."""

    name: str  # for the log
    state: Resumable
    best: BestWeights
    epochs: int
    decay_epochs: int
    checkpoint_every: int
    budget_minutes: float | None = None
    score: Callable[[dict], float] | None = None  # of an epoch's record; higher is better

    @classmethod
    def build(
        cls,
        name: str,
        cfg: GanSchedule,
        run: tuple[Any, ...],
        modules: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
        keep: dict[str, nn.Module],
        state_dir: Path | None = None,
        budget_minutes: float | None = None,
        score: Callable[[dict], float] | None = None,
    ) -> EpochLoop:
        """The loop of one run: its state (resumable when the config, `run` (seed, run id,
        data shapes) and so its fingerprint match) in `state_dir`, keeping `keep`'s weights
        from the best epoch."""
        state = Resumable(
            state_dir, fingerprint(cfg.model_dump(), *run), modules, optimizers, generator
        )
        return cls(
            name,
            state,
            BestWeights(keep),
            cfg.epochs,
            cfg.decay_epochs,
            cfg.checkpoint_every,
            budget_minutes,
            score,
        )

    def run(
        self,
        train_epoch: Callable[[int, float], dict[str, float]],
        on_epoch: Callable[[int], dict[str, float]] | None = None,
        extra_state: Callable[[], dict[str, torch.Tensor]] = dict,
        on_resume: Callable[[dict[str, torch.Tensor]], None] | None = None,
    ) -> LoopOutcome:
        """`train_epoch(epoch, lr_factor)` runs one epoch's batches and returns its record
        (learning rates, mean losses); `on_epoch(epoch)` adds metrics after it. `extra_state`
        is saved with the state (an image pool, a step counter) and handed back to `on_resume`
        when a later call continues from it."""
        history: list[dict] = []
        start_epoch = 1
        resumed = self.state.load()
        if resumed is not None:
            history, start_epoch = resumed.history, resumed.epoch + 1
            if on_resume is not None:
                on_resume(resumed.tensors)
            resume_best(self.best, history, self.score, resumed.tensors)
            log.info(
                "%s: resuming after epoch %d from %s",
                self.name,
                resumed.epoch,
                self.state.directory,
            )
        budget = TimeBudget(self.epochs, self.decay_epochs, self.budget_minutes)
        budget.update(len(history), sum(h["seconds"] for h in history))
        start = time.perf_counter()
        epoch = start_epoch - 1
        while budget.more(epoch):
            epoch += 1
            t0 = time.perf_counter()
            record = {"epoch": epoch, **train_epoch(epoch, budget.lr_factor(epoch))}
            if on_epoch is not None:
                record.update(on_epoch(epoch))
            record["seconds"] = time.perf_counter() - t0
            history.append(record)
            if self.score is not None:
                self.best.offer(epoch, self.score(record))
            budget.update(epoch, sum(h["seconds"] for h in history))
            if epoch % self.checkpoint_every == 0 or not budget.more(epoch):
                self.state.save(epoch, history, extra_state() | self.best.tensors())
        self.best.restore()
        return LoopOutcome(history, start_epoch - 1, epoch, time.perf_counter() - start)
