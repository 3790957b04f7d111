"""Classifier = encoder F + linear head C, built from a small, serialisable architecture record.

The record (`Architecture`) is stored in every checkpoint manifest, so a checkpoint can be
rebuilt without the params that made it. Adaptation methods reuse `encoder` and `head`
separately (ADDA trains a new target encoder against a frozen head).

SHOT's recipe (Liang et al. 2020, `network.py`) is two options of the record: a bottleneck
(fc → BatchNorm, no ReLU) that ends the encoder, so every method aligns and self-trains the
normalised `bottleneck`-d features; and a weight-normalised head, whose per-class norm g_k is
learned apart from the direction v_k/‖v_k‖, so no class wins by the length of its weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from gantl.models.dtn import DTNEncoder
from gantl.models.lenet import LeNetEncoder
from gantl.models.translated import TranslatedEncoder, build_translator

ModelName = Literal["lenet", "dtn"]


@dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild a classifier."""

    name: ModelName
    in_channels: int
    image_size: int
    num_classes: int
    width: float = 1.0  # DTN channel multiplier
    bottleneck: int = 0  # > 0: fc(bottleneck) → BatchNorm1d ends the encoder
    head: Literal["linear", "weight_norm"] = "linear"
    # a frozen target → source generator before the encoder (gantl.models.translated): the
    # record of the translator it comes from, or None
    translator: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def choose_model(requested: str, in_channels: int) -> ModelName:
    """`auto` picks LeNet for grey images and DTN for RGB, as the ADDA/DTN digit papers do."""
    if requested == "auto":
        return "lenet" if in_channels == 1 else "dtn"
    if requested not in ("lenet", "dtn"):
        raise ValueError(f"unknown model {requested!r}; expected 'auto', 'lenet' or 'dtn'")
    return requested  # type: ignore[return-value]


class BottleneckEncoder(nn.Module):
    """backbone → fc(dim) → BatchNorm1d: SHOT's `feat_bootleneck` of type "bn"."""

    def __init__(self, backbone: nn.Module, dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.bottleneck = nn.Sequential(nn.Linear(backbone.out_features, dim), nn.BatchNorm1d(dim))
        self.out_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.backbone(x))


def build_encoder(arch: Architecture) -> nn.Module:
    """F for `arch`: LeNet or DTN, ending in the bottleneck when the record asks for one, and
    reading translated images when it names a translator."""
    if arch.name == "lenet":
        encoder: nn.Module = LeNetEncoder(arch.in_channels, arch.image_size)
    else:
        encoder = DTNEncoder(arch.in_channels, arch.image_size, width=arch.width)
    if arch.bottleneck > 0:
        encoder = BottleneckEncoder(encoder, arch.bottleneck)
    if arch.translator is not None:
        encoder = TranslatedEncoder(build_translator(arch.translator), encoder)
    return encoder


def build_head(arch: Architecture, in_features: int) -> nn.Module:
    """C: a linear layer, weight-normalised (w_k = g_k v_k / ‖v_k‖) when the record says so."""
    head = nn.Linear(in_features, arch.num_classes)
    if arch.head == "weight_norm":
        head = nn.utils.parametrizations.weight_norm(head, name="weight", dim=0)
    return head


class Classifier(nn.Module):
    """logits = C(F(x)); `features` exposes F(x) for adaptation and analysis."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.encoder: nn.Module = build_encoder(arch)
        self.head = build_head(arch, self.encoder.out_features)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))
