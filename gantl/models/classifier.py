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

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from gantl.models.dtn import DTNEncoder
from gantl.models.lenet import LeNetEncoder
from gantl.models.resnet import RESNETS, ResNetEncoder, load_pretrained
from gantl.models.translated import TranslatedEncoder, build_translator

ModelName = Literal["lenet", "dtn", "resnet18", "resnet50"]
MODELS = ("lenet", "dtn", "resnet18", "resnet50")
PHOTO_SIZE = 64  # `auto` reads images this large or larger as photos: ResNet-50


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
    # the backbone's learning rate as a share of the rest's: TLlib fine-tunes an ImageNet
    # backbone at 0.1× the bottleneck and head (1.0 for networks trained from scratch)
    backbone_lr: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


def choose_model(requested: str, in_channels: int, image_size: int = 32) -> ModelName:
    """`auto` picks LeNet for grey digits and DTN for RGB ones, as the ADDA/DTN digit papers
    do, and ResNet-50 for photos (PHOTO_SIZE px and up), as TLlib and DomainBed do."""
    if requested == "auto":
        if image_size >= PHOTO_SIZE:
            return "resnet50"
        return "lenet" if in_channels == 1 else "dtn"
    if requested not in MODELS:
        raise ValueError(f"unknown model {requested!r}; expected 'auto' or one of {MODELS}")
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
    elif arch.name in RESNETS:
        encoder = ResNetEncoder(arch.name, arch.in_channels)
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


def parameter_groups(
    modules: Iterable[nn.Module], lr: float, backbone_lr: float = 1.0
) -> list[dict[str, Any]]:
    """The optimiser's parameter groups for `modules` at learning rate `lr`: one group, or, when
    `backbone_lr` ≠ 1, the ResNet backbones' parameters apart at `backbone_lr` × lr (TLlib's
    `get_parameters`). Each group keeps its `lr_mult`, which `schedules.set_lr` applies."""
    modules = list(modules)
    params = [p for m in modules for p in m.parameters()]
    backbone = {
        id(p)
        for m in modules
        for sub in m.modules()
        if isinstance(sub, ResNetEncoder)
        for p in sub.parameters()
    }
    if backbone_lr == 1.0 or not backbone:
        return [{"params": params, "lr": lr, "lr_mult": 1.0}]
    return [
        {
            "params": [p for p in params if id(p) in backbone],
            "lr": backbone_lr * lr,
            "lr_mult": backbone_lr,
        },
        {"params": [p for p in params if id(p) not in backbone], "lr": lr, "lr_mult": 1.0},
    ]


def load_backbone(model: nn.Module, pretrained: str) -> str:
    """Load `pretrained` ("imagenet" or a weights file) into `model`'s ResNet backbone; the
    file it read. A ValueError when the model has no ResNet."""
    backbones = [m for m in model.modules() if isinstance(m, ResNetEncoder)]
    if not backbones:
        raise ValueError("pretrained weights are for ResNet backbones (model: resnet18/resnet50)")
    return str(load_pretrained(backbones[0], pretrained))


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
