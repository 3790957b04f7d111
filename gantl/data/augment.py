"""Random affine augmentation of a whole batch at once (one warp per image, no Python loop).

Digit domains differ mostly in stroke width, size and position (MNIST digits sit in a 20 px box
inside 28 px; USPS digits fill the frame), so a classifier trained on slightly rotated, scaled
and shifted source digits transfers better. The warp is an inverse affine map sampled with
`grid_sample`; pixels that come from outside the image repeat the border, which is background
for digits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator,
    degrees: float = 10.0,
    translate: float = 0.1,
    scale: tuple[float, float] = (0.85, 1.25),
) -> torch.Tensor:
    """x (N×C×H×W) warped by a random rotation (±degrees), shift (± translate · size) and zoom.

    The random numbers come from `generator` on the CPU, so a seed gives the same warps on any
    device.
    """
    n = len(x)
    if n == 0:
        return x
    u = torch.rand(n, 4, generator=generator, dtype=torch.float64)
    angle = (2 * u[:, 0] - 1) * math.radians(degrees)
    zoom = scale[0] + (scale[1] - scale[0]) * u[:, 1]
    shift = (2 * u[:, 2:] - 1) * 2 * translate  # affine_grid's coordinates span [−1, 1]
    # theta maps output coordinates to input ones: the inverse of "rotate, zoom, then shift".
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [
            torch.stack([cos, -sin, -(cos * shift[:, 0] - sin * shift[:, 1])], 1),
            torch.stack([sin, cos, -(sin * shift[:, 0] + cos * shift[:, 1])], 1),
        ],
        1,
    ).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
