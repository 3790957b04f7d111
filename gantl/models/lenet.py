"""LeNet encoder for 28×28 grey digits, as in ADDA (Tzeng et al., 2017) and CyCADA.

conv(20, 5×5) → max-pool → ReLU → conv(50, 5×5) → dropout → max-pool → ReLU → fc(500) → ReLU,
giving 500-d features; the classifier head (gantl.models.classifier) maps them to logits.
"""

from __future__ import annotations

import torch
from torch import nn


class LeNetEncoder(nn.Module):
    """x: N×C×S×S in [-1, 1] → features N×500."""

    def __init__(self, in_channels: int = 1, image_size: int = 28, feature_dim: int = 500) -> None:
        super().__init__()
        side = ((image_size - 4) // 2 - 4) // 2  # two valid 5×5 convs, each followed by 2× pooling
        if side < 1:
            raise ValueError(f"LeNet needs images of at least 16×16, got {image_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 20, kernel_size=5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(20, 50, kernel_size=5),
            nn.Dropout2d(0.5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(50 * side * side, feature_dim),
            nn.ReLU(),
            nn.Dropout(0.5),
        )
        self.out_features = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
