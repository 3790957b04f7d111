"""In-memory domains: what every reader returns and the prepare stage consumes.

A domain is a set of named splits of uint8 images (N×H×W×C) with optional integer labels and,
per image, the place it came from. Readers validate through `make_split`, so inconsistent
files fail with one message naming the file, however they were read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gantl.errors import DataError

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class Split:
    """One split of a domain: images uint8 N×H×W×C, labels int64 N (or None), origins N."""

    images: np.ndarray
    labels: np.ndarray | None
    origins: np.ndarray  # str per image: "<file>#<row>" or another pointer back to raw bytes

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def take(self, index: np.ndarray) -> Split:
        """The subset at `index`, in that order."""
        labels = None if self.labels is None else self.labels[index]
        return Split(self.images[index], labels, self.origins[index])


@dataclass(frozen=True)
class RawDomain:
    """A domain as read from its raw files, before resizing and splitting."""

    name: str  # short name used in reports: "mnist", "usps", "mnist5k", "mnistm", …
    spec: str  # the spec it was loaded from, e.g. "usps:usps/usps.h5"
    splits: dict[str, Split]  # "train" and/or "test"
    class_names: tuple[str, ...] = DIGIT_CLASSES
    raw_files: tuple[Path, ...] = ()  # files whose bytes define the domain (hashed for provenance)
    notes: tuple[str, ...] = field(default=())  # facts a report must state, e.g. a missing split

    @property
    def shape(self) -> tuple[int, int, int]:
        """H, W, C shared by every split."""
        first = next(iter(self.splits.values()))
        return tuple(first.images.shape[1:])  # type: ignore[return-value]


def make_split(
    images: np.ndarray,
    labels: np.ndarray | None,
    source: str,
    num_classes: int = 10,
    origins: Sequence[str] | np.ndarray | None = None,
) -> Split:
    """Validate and normalise one split read from `source` (a file path or description).

    Accepts N×H×W or N×H×W×C images of uint8 (0–255) or float (0–1); labels of any integer
    dtype. Raises DataError naming `source` when counts differ, the array is not an image
    stack, or a label is outside 0..num_classes-1.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise DataError(
            f"{source}: expected images shaped N×H×W or N×H×W×C with C in (1, 3), "
            f"got shape {images.shape}"
        )
    if len(images) == 0:
        raise DataError(f"{source}: contains no images")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating):
            raise DataError(f"{source}: expected uint8 or float pixels, got {images.dtype}")
        lo, hi = float(images.min()), float(images.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(f"{source}: float pixels must lie in [0, 1], found [{lo:g}, {hi:g}]")
        images = np.rint(images * 255.0).astype(np.uint8)
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if not np.issubdtype(labels.dtype, np.integer) and not np.all(np.mod(labels, 1) == 0):
            raise DataError(f"{source}: labels must be integers, got {labels.dtype}")
        labels = labels.astype(np.int64)
        if len(labels) != len(images):
            raise DataError(f"{source}: {len(images)} images but {len(labels)} labels")
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{source}: label {int(labels[first])} at row {first} is outside "
                f"0..{num_classes - 1} (the class list has {num_classes} classes)"
            )
    if origins is None:
        origins = np.array([f"{source}#{i}" for i in range(len(images))], dtype=object)
    origins = np.asarray(origins, dtype=object)
    if len(origins) != len(images):
        raise DataError(f"{source}: {len(images)} images but {len(origins)} origins")
    return Split(np.ascontiguousarray(images), labels, origins)
