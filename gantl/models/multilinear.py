"""CDAN's conditioning maps (Long et al. 2018): features f and class predictions g → D's input.

Multilinear map: the outer product of g (N×K) and f (N×d), flattened, so D sees every
feature–class cross term:
    T⊗(f, g) = g ⊗ f,   T⊗(f, g)[n, k·d + j] = g[n, k] · f[n, j]          (N×(K·d))
Randomized multilinear map, for when K·d is too large for D's first layer:
    T⊙(f, g) = (1/√d_out) (R_f f) ⊙ (R_g g)                               (N×d_out)
with R_f (d_out×d) and R_g (d_out×K) drawn once from N(0, 1) and fixed: buffers, never trained
(its inner products approximate T⊗'s in expectation).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MultilinearMap(nn.Module):
    """f N×d, g N×K → g ⊗ f flattened, N×(K·d)."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.features, self.classes = features, classes
        self.out_features = features * classes

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (g.unsqueeze(2) * f.unsqueeze(1)).flatten(1)


class RandomizedMultilinearMap(nn.Module):
    """f N×d, g N×K → (R_f f) ⊙ (R_g g) / √d_out, N×d_out, with R_f then R_g drawn from
    `generator` (a seeded one makes them reproducible) when the module is built."""

    def __init__(
        self,
        features: int,
        classes: int,
        out_features: int = 1024,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.features, self.classes = features, classes
        self.out_features = out_features
        # buffers: they move with .to(device) and .double(), and no optimiser ever sees them
        self.register_buffer("r_f", torch.randn(out_features, features, generator=generator))
        self.register_buffer("r_g", torch.randn(out_features, classes, generator=generator))

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (f @ self.r_f.T) * (g @ self.r_g.T) / math.sqrt(self.out_features)
