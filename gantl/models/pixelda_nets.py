"""PixelDA's generator (Bousmalis et al., CVPR 2017, §3 and appendix), sized for digits.

G(x, z): the noise vector z (uniform, `z_dim`) is projected by a fully connected layer to one
extra image-sized channel and concatenated with the source image; a 3×3 convolution, ReLU, and
`n_blocks` residual blocks (conv-BN-ReLU-conv-BN, 3×3, `ngf` filters) work at full resolution,
and a 3×3 convolution with tanh gives the target-style image. With no stride there is no
down- and up-sampling to blur a 28 px digit's strokes.

The discriminator is CycleGAN's PatchGAN (gantl.models.cyclegan_nets): the paper's D, a stack of
stride-2 convolutions with leaky ReLU, differs from it only in its dense last layer.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlockBN(nn.Module):
    """x + conv-BN-ReLU-conv-BN(x), as in the paper's generator."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class PixelDAGenerator(nn.Module):
    """(images N×C×H×W, noise N×z_dim) → images N×C×H×W in [−1, 1]."""

    def __init__(
        self, channels: int, size: int, ngf: int = 64, n_blocks: int = 6, z_dim: int = 10
    ) -> None:
        super().__init__()
        self.size, self.z_dim = size, z_dim
        self.noise = nn.Linear(z_dim, size * size)
        self.model = nn.Sequential(
            nn.Conv2d(channels + 1, ngf, 3, padding=1),
            nn.ReLU(inplace=True),
            *(ResidualBlockBN(ngf) for _ in range(n_blocks)),
            nn.Conv2d(ngf, channels, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"PixelDAGenerator built for {self.size} px, got {tuple(x.shape)}")
        noise = self.noise(z).view(len(x), 1, self.size, self.size)
        return self.model(torch.cat([x, noise], dim=1))
