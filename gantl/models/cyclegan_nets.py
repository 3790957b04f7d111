"""CycleGAN's networks (Zhu et al., ICCV 2017, appendix 7.2), sized for 28–32 px digits.

Generator: c7s1-k, d2k, d4k, R4k × n_blocks, u2k, uk, c7s1-C (Johnson et al.'s ResNet layout):
two stride-2 convolutions take 28 px to 7 px (32 px to 8 px), residual blocks work there, and
two transposed convolutions come back. Instance norm, ReLU, tanh output in [−1, 1].

Discriminator: the 70×70 PatchGAN's pattern (C64-C128-C256-C512, 4×4 convolutions, leaky ReLU)
with fewer stride-2 layers, so each output scores one overlapping patch of a digit-sized image.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x), reflection padded."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """images N×in_ch×H×W → images N×out_ch×H×W in [−1, 1]; H, W divisible by 4."""

    def __init__(self, in_ch: int, out_ch: int, ngf: int = 64, n_blocks: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_ch, ngf, 7, bias=False),
            nn.InstanceNorm2d(ngf, affine=True),
            nn.ReLU(inplace=True),
        ]
        for mult in (1, 2):  # d2k, d4k
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=False),
                nn.InstanceNorm2d(ngf * mult * 2, affine=True),
                nn.ReLU(inplace=True),
            ]
        layers += [ResidualBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):  # u2k, uk
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult,
                    ngf * mult // 2,
                    3,
                    stride=2,
                    padding=1,
                    output_padding=1,
                    bias=False,
                ),
                nn.InstanceNorm2d(ngf * mult // 2, affine=True),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"ResnetGenerator needs H and W divisible by 4, got {tuple(x.shape)}")
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """images N×C×H×W → patch scores N×1×h×w (raw: LSGAN / BCE-with-logits apply on top).

    A stride-2 convolution, n_layers − 1 more, one stride-1 convolution and the 1-channel output.
    Receptive fields: n_layers = 3 is the paper's 70 px; n_layers = 2 gives 34 px (a 5×5 map of
    nearly whole-digit scores at 28 px), n_layers = 1 gives 16 px (12×12 stroke-level scores).
    """

    def __init__(self, in_ch: int, ndf: int = 64, n_layers: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        ch = ndf
        for i in range(1, n_layers + 1):
            out = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(ch, out, 4, stride=stride, padding=1, bias=False),
                nn.InstanceNorm2d(out, affine=True),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch = out
        layers.append(nn.Conv2d(ch, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
