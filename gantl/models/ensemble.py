"""An ensemble of classifiers as one: the average of its members' softmax outputs.

Each member keeps its own encoder (a t2s member reads target images through its translator, a
pixel + feature member reads them as they are); the features are the members' side by side,
and the head turns each member's slice into probabilities and averages them. The logits it
returns are log p̄, so softmax gives p̄ back and argmax is the ensemble's vote.
"""

from __future__ import annotations

import torch
from torch import nn


class ConcatEncoder(nn.Module):
    """[F_1(x), …, F_k(x)]: every member's features, side by side."""

    def __init__(self, encoders: list[nn.Module]) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.sizes = [e.out_features for e in encoders]
        self.out_features = sum(self.sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([e(x) for e in self.encoders], dim=1)


class MeanProbabilityHead(nn.Module):
    """log of the mean over members of softmax(C_i(f_i)), f_i each member's feature slice."""

    def __init__(self, heads: list[nn.Module], sizes: list[int]) -> None:
        super().__init__()
        self.heads, self.sizes = nn.ModuleList(heads), sizes

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        parts = torch.split(f, self.sizes, dim=1)
        p = torch.stack(
            [torch.softmax(h(part), dim=1) for h, part in zip(self.heads, parts, strict=True)]
        )
        return p.mean(0).clamp_min(1e-12).log()


class EnsembleClassifier(nn.Module):
    """The Classifier interface (`features`, `head`, forward) over several classifiers."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.encoder = ConcatEncoder([m.encoder for m in members])
        self.head = MeanProbabilityHead([m.head for m in members], self.encoder.sizes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))
