"""StarGAN's networks (Choi et al., CVPR 2018, appendix), sized for 28–32 px digits.

Generator: the target domain's one-hot c is tiled into c_dim constant planes and concatenated
with the image; then the CycleGAN-style encoder (two stride-2 downsamplings), residual blocks and
decoder; instance norm; tanh output.

Discriminator: a shared trunk of 4×4 stride-2 convolutions with leaky ReLU (no normalisation, as
WGAN-GP requires) and two heads: D_src, a 3×3 convolution giving a patch map of real/fake
(critic) scores, and D_cls, a convolution over the whole remaining map giving c_dim domain
logits.
"""

from __future__ import annotations

import torch
from torch import nn

from gantl.models.cyclegan_nets import ResidualBlock


class StarGenerator(nn.Module):
    """(images N×C×H×W, one-hot N×c_dim) → images N×C×H×W in [−1, 1]; H, W divisible by 4."""

    def __init__(self, channels: int, c_dim: int, conv_dim: int = 64, n_blocks: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(channels + c_dim, conv_dim, 7, padding=3, bias=False),
            nn.InstanceNorm2d(conv_dim, affine=True),
            nn.ReLU(inplace=True),
        ]
        ch = conv_dim
        for _ in range(2):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, stride=2, padding=1, bias=False),
                nn.InstanceNorm2d(ch * 2, affine=True),
                nn.ReLU(inplace=True),
            ]
            ch *= 2
        layers += [ResidualBlock(ch) for _ in range(n_blocks)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, stride=2, padding=1, bias=False),
                nn.InstanceNorm2d(ch // 2, affine=True),
                nn.ReLU(inplace=True),
            ]
            ch //= 2
        layers += [nn.Conv2d(ch, channels, 7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"StarGenerator needs H and W divisible by 4, got {tuple(x.shape)}")
        planes = c.view(c.size(0), c.size(1), 1, 1).expand(-1, -1, x.size(2), x.size(3))
        return self.model(torch.cat([x, planes.to(x.dtype)], dim=1))


class StarDiscriminator(nn.Module):
    """images N×C×S×S → (critic patch map N×1×h×w, domain logits N×c_dim)."""

    def __init__(
        self, channels: int, image_size: int, c_dim: int, conv_dim: int = 64, repeat_num: int = 3
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch_in, ch, size = channels, conv_dim, image_size
        for _ in range(repeat_num):
            layers += [nn.Conv2d(ch_in, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            ch_in, ch, size = ch, ch * 2, size // 2
        if size < 1:
            raise ValueError(f"{repeat_num} stride-2 layers leave nothing of {image_size} px")
        self.main = nn.Sequential(*layers)
        self.src = nn.Conv2d(ch_in, 1, 3, stride=1, padding=1, bias=False)  # D_src
        self.cls = nn.Conv2d(ch_in, c_dim, size, bias=False)  # D_cls: one logit per domain

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        return self.src(h), self.cls(h).flatten(1)
