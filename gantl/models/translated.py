"""Target → source at test time: a classifier that reads target images translated back.

A two-way translator (CycleGAN's G_BA, StarGAN's G toward domain 0) restyles each target image
as a source one, and a classifier trained on source-style images reads it: the other half of
"map source to target, or target to source". The generator is built from the record the
translate stage stores (`models/<gan>/manifest.json`'s architecture) and is frozen: nothing
trains it again.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gantl.config import TWO_WAY_GANS
from gantl.models.cyclegan_nets import ResnetGenerator
from gantl.models.stargan_nets import StarGenerator


class ToDomain(nn.Module):
    """StarGAN's G with the target domain fixed: G(x, one-hot(domain))."""

    def __init__(self, generator: StarGenerator, domain: int, c_dim: int) -> None:
        super().__init__()
        self.generator, self.domain, self.c_dim = generator, domain, c_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = F.one_hot(torch.full((len(x),), self.domain, device=x.device), self.c_dim)
        return self.generator(x, c.float())


def build_translator(record: dict[str, Any]) -> nn.Module:
    """The target → source generator a translate stage's architecture record describes."""
    kind = record.get("kind")
    if kind == "cyclegan":
        ch = record["channels"]
        return ResnetGenerator(ch, ch, record["ngf"], record["n_blocks"])
    if kind == "stargan":
        g = StarGenerator(
            record["channels"], record["c_dim"], record["conv_dim"], record["n_blocks"]
        )
        return ToDomain(g, record.get("source_domain", 0), record["c_dim"])
    raise ValueError(
        f"no target → source generator for translator {kind!r}; expected one of {TWO_WAY_GANS}"
    )


class TranslatedEncoder(nn.Module):
    """F(T(x)): the frozen translator T, then the classifier's encoder F."""

    def __init__(self, translator: nn.Module, encoder: nn.Module) -> None:
        super().__init__()
        self.translator = translator.requires_grad_(False).eval()
        self.encoder = encoder
        self.out_features = encoder.out_features

    def train(self, mode: bool = True) -> TranslatedEncoder:
        super().train(mode)
        self.translator.eval()  # frozen, whatever mode the classifier is put in
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.translator(x))
