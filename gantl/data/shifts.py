"""Target domains of our own: photometric and geometric shifts of a digit domain, as NPZ files.

The named protocols are what recipes get tuned on; a suite of shifts they were not tuned on
checks that the recipe, the schedules and the collapse guard carry over. Each shift turns every
image of a domain (resized to `size`) into a new target domain with the same labels:

- `invert`: white ink on black becomes black ink on white (a polarity flip, as in some scans);
- `rotate`: every digit turned by 30–50°, either way;
- `contrast_noise`: a third of the contrast on a grey background, with Gaussian sensor noise;
- `thick_blur`: strokes thickened (3×3 dilation) and blurred, like a bleeding pen;
- `shrink_shift`: digits at half size, anywhere in the frame.

Shapes: images uint8 N×H×W×C in, N×size×size×1 out; one seeded generator per shift.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gantl.data.augment import warp
from gantl.data.domain import RawDomain
from gantl.io import atomic_path

Shift = Callable[[torch.Tensor, torch.Generator], torch.Tensor]  # x N×1×S×S in [0, 1]


def invert(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return 1 - x


def rotate(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = len(x)
    u = torch.rand(n, 2, generator=g)
    angle = torch.where(u[:, 1] < 0.5, -1.0, 1.0) * torch.deg2rad(30 + 20 * u[:, 0])
    return warp(x, angle, torch.ones(n), torch.zeros(n, 2), padding_mode="zeros")


def contrast_noise(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    noise = torch.randn(x.shape, generator=g) * 0.1
    return (0.3 + x / 3 + noise).clamp(0, 1)


def thick_blur(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    thick = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
    r = torch.arange(-2, 3, dtype=x.dtype)
    k = torch.exp(-(r**2) / (2 * 1.0**2))
    k = (k[:, None] * k[None, :]) / (k.sum() ** 2)
    return F.conv2d(F.pad(thick, (2, 2, 2, 2), mode="replicate"), k[None, None])


def shrink_shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = len(x)
    shift = (2 * torch.rand(n, 2, generator=g) - 1) * 0.45
    return warp(x, torch.zeros(n), torch.full((n,), 0.5), shift, padding_mode="zeros")


SHIFTS: dict[str, Shift] = {
    "invert": invert,
    "rotate": rotate,
    "contrast_noise": contrast_noise,
    "thick_blur": thick_blur,
    "shrink_shift": shrink_shift,
}


def shift_images(images: np.ndarray, name: str, size: int, seed: int) -> np.ndarray:
    """`images` (uint8 N×H×W×C, grey or RGB) resized to size×size grey, then shifted."""
    x = torch.from_numpy(images).float().div(255).permute(0, 3, 1, 2).mean(1, keepdim=True)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    generator = torch.Generator().manual_seed(seed)
    out = SHIFTS[name](x, generator)
    return (out.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_shift(domain: RawDomain, name: str, out: Path, size: int = 28, seed: int = 0) -> Path:
    """`domain` with shift `name`, written as an NPZ target domain (x_/y_train, x_/y_test)."""
    if name not in SHIFTS:
        raise ValueError(f"unknown shift {name!r}; expected one of {sorted(SHIFTS)}")
    arrays: dict[str, np.ndarray] = {}
    for i, (split, data) in enumerate(sorted(domain.splits.items())):
        arrays[f"x_{split}"] = shift_images(data.images, name, size, seed * 1000 + i)
        if data.labels is not None:
            arrays[f"y_{split}"] = data.labels
    arrays["class_names"] = np.array(domain.class_names)
    with atomic_path(Path(out)) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return Path(out)


def describe(name: str) -> str:
    """The one-line description of a shift, from this module's docstring."""
    for line in (__doc__ or "").splitlines():
        if line.startswith(f"- `{name}`"):
            return line.split(":", 1)[1].strip().rstrip(";.")
    return name
