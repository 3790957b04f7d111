"""DTN encoder for 32×32 RGB digits (SVHN, MNIST-M), as in the DTN/ADDA/TLlib digit experiments.

Three 5×5 stride-2 convolutions (64, 128, 256 channels × `width`) with batch norm, dropout and
ReLU, then fc(512) → 512-d features. `width` < 1 gives CPU recipes a smaller net.
"""

from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int, dropout: float) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel_size=5, stride=2, padding=2),
        nn.BatchNorm2d(c_out),
        nn.Dropout2d(dropout),
        nn.ReLU(),
    ]


class DTNEncoder(nn.Module):
    """x: N×C×S×S in [-1, 1] → features N×512."""

    def __init__(
        self, in_channels: int = 3, image_size: int = 32, feature_dim: int = 512, width: float = 1.0
    ) -> None:
        super().__init__()
        c1, c2, c3 = (max(8, round(c * width)) for c in (64, 128, 256))
        side = image_size
        for _ in range(3):
            side = (side + 1) // 2  # 5×5, stride 2, padding 2
        self.features = nn.Sequential(
            *_block(in_channels, c1, 0.1),
            *_block(c1, c2, 0.3),
            *_block(c2, c3, 0.5),
            nn.Flatten(),
            nn.Linear(c3 * side * side, feature_dim),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(),
            nn.Dropout(0.5),
        )
        self.out_features = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
