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
    return warp(x, angle, zoom, shift)


def warp(
    x: torch.Tensor,
    angle: torch.Tensor,
    zoom: torch.Tensor,
    shift: torch.Tensor,
    padding_mode: str = "border",
) -> torch.Tensor:
    """Each image of x rotated by `angle` (radians), zoomed by `zoom` and moved by `shift`
    (N×2, in affine_grid's [−1, 1] units)."""
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
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def random_photometric(
    x: torch.Tensor,
    generator: torch.Generator,
    contrast: float = 0.4,
    brightness: float = 0.25,
    invert: float = 0.5,
) -> torch.Tensor:
    """x (N×C×H×W in [-1, 1]) with a random contrast, brightness and polarity per image, and for
    RGB a random channel order and gain, so colour and ink/paper polarity stop being cues.

    Shifts between digit and photo domains are largely photometric (MNIST-M's coloured
    backgrounds, scanned ink, inverted scans); a source classifier that has seen such changes
    depends on shape instead.
    """
    n, c = x.shape[:2]
    if n == 0:
        return x
    u = torch.rand(n, 3 + c, generator=generator).to(x.device, x.dtype)
    view = (n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + contrast * (2 * u[:, 0] - 1)).view(view) + mean
    x = x + (brightness * (2 * u[:, 1] - 1)).view(view)
    x = torch.where((u[:, 2] < invert).view(view), -x, x)
    if c > 1:
        order = torch.argsort(torch.rand(n, c, generator=generator), dim=1).to(x.device)
        x = torch.gather(x, 1, order[:, :, None, None].expand_as(x))
        x = x * (0.7 + 0.6 * u[:, 3:]).view(n, c, 1, 1)
    return x.clamp(-1, 1)


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """The named augmentation of params (`none`, `affine`, `strong`) applied to one batch."""
    if kind == "none":
        return x
    if kind == "affine":
        return random_affine(x, generator)
    if kind == "strong":
        x = random_affine(x, generator, degrees=15.0, translate=0.15, scale=(0.75, 1.3))
        return random_photometric(x, generator)
    raise ValueError(f"unknown augmentation {kind!r}; expected one of none, affine, strong")
