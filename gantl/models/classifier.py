"""Classifier = encoder F + linear head C, built from a small, serialisable architecture record.

The record (`Architecture`) is stored in every checkpoint manifest, so a checkpoint can be
rebuilt without the params that made it. Adaptation methods reuse `encoder` and `head`
separately (ADDA trains a new target encoder against a frozen head).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from gantl.models.dtn import DTNEncoder
from gantl.models.lenet import LeNetEncoder

ModelName = Literal["lenet", "dtn"]


@dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild a classifier."""

    name: ModelName
    in_channels: int
    image_size: int
    num_classes: int
    width: float = 1.0  # DTN channel multiplier

    def to_dict(self) -> dict:
        return asdict(self)


def choose_model(requested: str, in_channels: int) -> ModelName:
    """`auto` picks LeNet for grey images and DTN for RGB, as the ADDA/DTN digit papers do."""
    if requested == "auto":
        return "lenet" if in_channels == 1 else "dtn"
    if requested not in ("lenet", "dtn"):
        raise ValueError(f"unknown model {requested!r}; expected 'auto', 'lenet' or 'dtn'")
    return requested  # type: ignore[return-value]


class Classifier(nn.Module):
    """logits = C(F(x)); `features` exposes F(x) for adaptation and analysis."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        if arch.name == "lenet":
            self.encoder: nn.Module = LeNetEncoder(arch.in_channels, arch.image_size)
        else:
            self.encoder = DTNEncoder(arch.in_channels, arch.image_size, width=arch.width)
        self.head = nn.Linear(self.encoder.out_features, arch.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))
