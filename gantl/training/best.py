"""Keep the best epoch of a run whose last epoch is not necessarily its best (a GAN's).

A GAN's quality wanders from epoch to epoch, so the translate stage scores every epoch with a
label-free criterion and keeps CPU copies of the generators from the best-scoring one. The copy
travels with the resumable state (as extra tensors), so an interrupted run resumes with its
best epoch intact.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

PREFIX = "best."


class BestWeights:
    """CPU copies of `modules`' weights from the epoch with the highest score offered so far."""

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        self.modules = modules
        self.epoch: int | None = None
        self.score = -math.inf
        self.weights: dict[str, dict[str, torch.Tensor]] = {}

    def offer(self, epoch: int, score: float) -> bool:
        """Keep the modules' current weights if `score` beats the best so far (NaN never does)."""
        if math.isnan(score) or score <= self.score:
            return False
        self.epoch, self.score = epoch, score
        self.weights = {
            name: {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
            for name, module in self.modules.items()
        }
        return True

    def restore(self) -> None:
        """Load the kept weights into the modules (nothing kept: they stay as they are)."""
        for name, weights in self.weights.items():
            self.modules[name].load_state_dict(weights)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The kept weights as flat tensors, for a resumable state."""
        return {
            f"{PREFIX}{name}.{key}": value
            for name, weights in self.weights.items()
            for key, value in weights.items()
        }

    def load(self, epoch: int | None, score: float, tensors: dict[str, torch.Tensor]) -> None:
        """Take back what `tensors` saved for `epoch` (its score recomputed by the caller)."""
        if epoch is None:
            return
        self.epoch, self.score = epoch, score
        self.weights = {name: {} for name in self.modules}
        for flat, value in tensors.items():
            if flat.startswith(PREFIX):
                name, key = flat[len(PREFIX) :].split(".", 1)
                self.weights[name][key] = value


def resume_best(
    best: BestWeights,
    history: list[dict],
    score: Callable[[dict], float] | None,
    tensors: dict[str, torch.Tensor],
) -> None:
    """Bring `best` back from a resumed state: its epoch is re-found by scoring `history`."""
    if score is None or not history:
        return
    scored = [(score(h), h["epoch"]) for h in history]
    scored = [(s, e) for s, e in scored if not math.isnan(s)]
    if scored:
        top, epoch = max(scored, key=lambda se: (se[0], -se[1]))  # the first of equal scores
        best.load(epoch, top, tensors)
