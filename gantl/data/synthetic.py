"""MNIST-M built on the spot, so the DANN paper's mnist→mnistm task needs no download.

Ganin et al. (2016, "Domain-Adversarial Training of Neural Networks", §5.2.2) blend each
MNIST digit with a random patch of a colour photo: out = |patch − digit| per channel, with the
digit binarised. The paper drew patches from BSDS500; we use the RGB photos that ship inside
scikit-image, read from disk (never through a function that might download).
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from gantl.data.domain import RawDomain, Split
from gantl.errors import ConfigError, DataError

PHOTO_NAMES: tuple[str, ...] = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "hubble_deep_field.jpg",
    "ihc.png",
)


def photo_paths() -> tuple[Path, ...]:
    """The bundled photos inside scikit-image's package data folder."""
    import skimage.data

    root = Path(skimage.data.data_dir)
    return tuple(root / name for name in PHOTO_NAMES)


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    """The photos as read-only uint8 H×W×3 arrays, decoded once per process."""
    photos = []
    for path in photo_paths():
        try:
            with Image.open(path) as im:
                array = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except OSError as exc:
            raise DataError(f"{path}: cannot read scikit-image's bundled photo: {exc}") from exc
        array.setflags(write=False)
        photos.append(array)
    return tuple(photos)


def _blend_split(split: Split, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """MNIST-M images for one split, and the photo/offset each patch came from."""
    photos = _photos()
    n, h, w, _ = split.images.shape
    digit = np.where(split.images > 0, np.int16(255), np.int16(0))  # N×H×W×1
    choice = rng.integers(len(photos), size=n)
    heights = np.array([p.shape[0] for p in photos])
    widths = np.array([p.shape[1] for p in photos])
    if (heights < h).any() or (widths < w).any():
        raise DataError(f"MNIST-M: base images {h}×{w} are larger than a bundled photo")
    # Uniform offsets in [0, size − crop] for each image's photo.
    ys = rng.integers(0, heights[choice] - h + 1)
    xs = rng.integers(0, widths[choice] - w + 1)
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    rows, cols = np.arange(h), np.arange(w)
    for k, photo in enumerate(photos):
        idx = np.flatnonzero(choice == k)
        if idx.size == 0:
            continue
        r = (ys[idx, None] + rows)[:, :, None]  # n_k×H×1
        c = (xs[idx, None] + cols)[:, None, :]  # n_k×1×W
        crop = photo[r, c].astype(np.int16)  # n_k×H×W×3
        out[idx] = np.abs(crop - digit[idx]).astype(np.uint8)
    origins = [
        f"{origin}|{PHOTO_NAMES[p]}@{y},{x}"
        for origin, p, y, x in zip(split.origins, choice, ys, xs, strict=True)
    ]
    return out, origins


def make_mnistm(base: RawDomain, seed: int = 0) -> RawDomain:
    """MNIST-M from a grayscale digit domain: labels, splits and classes are the base's.

    Each split draws from its own stream (seed, split name), so the test images do not change
    when the train split is present or absent.
    """
    if base.shape[2] != 1:
        raise ConfigError(
            f"synthetic:mnistm needs a grayscale base domain, but '{base.spec}' has "
            f"{base.shape[2]} channels"
        )
    splits: dict[str, Split] = {}
    for name, split in base.splits.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        images, origins = _blend_split(split, rng)
        splits[name] = Split(images, split.labels, np.asarray(origins, dtype=object))
    note = (
        f"mnistm: built from {base.name} per Ganin et al. 2016 as |photo crop − binarised digit| "
        f"with random {base.shape[0]}×{base.shape[1]} crops of {len(PHOTO_NAMES)} "
        f"scikit-image photos (seed {seed})"
    )
    return replace(
        base,
        name="mnistm",
        spec=f"synthetic:mnistm:{base.spec}",
        splits=splits,
        raw_files=base.raw_files + photo_paths(),
        notes=(*base.notes, note),
    )
