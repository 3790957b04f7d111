"""The tensors one adaptation run sees."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from gantl.training.batches import balanced_steps, paired_batches


@dataclass(frozen=True)
class AdaptationData:
    """Tensors of one adaptation run (x: N×C×H×W in [−1, 1])."""

    x_s: torch.Tensor  # labelled source train
    y_s: torch.Tensor
    x_t: torch.Tensor  # target train: images only, its labels never reach this object
    x_s_val: torch.Tensor
    y_s_val: torch.Tensor
    x_t_val: torch.Tensor
    y_t_val: torch.Tensor | None  # only for the upper-bound pick
    # target test, only with adapt.trace_test: scored into the history for validator studies,
    # never offered to the picker, so no choice ever reads it
    x_t_test: torch.Tensor | None = None
    y_t_test: torch.Tensor | None = None
    # distinct source images when x_s holds several views of each (original + translated,
    # translated copies): an epoch visits this many source rows, so pixel augmentation trains
    # for as many steps as the feature-only method it is compared with; None: len(x_s)
    source_images: int | None = None

    @property
    def source_epoch_rows(self) -> int:
        """Source rows one epoch visits."""
        return len(self.x_s) if self.source_images is None else self.source_images

    def steps_per_epoch(self, batch_size: int) -> int:
        """Steps of one source + target epoch (`balanced_batches` over the larger domain)."""
        return balanced_steps((self.source_epoch_rows, len(self.x_t)), batch_size)

    def paired_batches(
        self, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of (source idx, target idx) batches, `steps_per_epoch` of them."""
        steps = self.steps_per_epoch(batch_size)
        return paired_batches(len(self.x_s), len(self.x_t), batch_size, generator, steps)
