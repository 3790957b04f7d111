"""Domain discriminator D on features: an MLP giving one logit, "this came from the source".

ADDA's discriminator (Tzeng et al. 2017): two hidden layers of 500 ReLU units; DANN's domain
classifier has the same shape in the digit experiments.
"""

from __future__ import annotations

import torch
from torch import nn


class DomainDiscriminator(nn.Module):
    """features N×d → logits N (source = 1, target = 0)."""

    def __init__(self, in_features: int, hidden: int = 500) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f).squeeze(1)
