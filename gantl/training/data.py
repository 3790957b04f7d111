"""The tensors one adaptation run sees."""

from __future__ import annotations

from dataclasses import dataclass

import torch


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
