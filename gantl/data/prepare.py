"""From two raw domains to one experiment's train/val/test splits of one shared image shape.

Shape rule (ADDA/CyCADA, DANN): 28×28×1 when both domains are grey, 32×32×3 as soon as an RGB
domain takes part; params may fix either. Split rule: a domain's `test` split is never touched
by training or selection; `val` is held out of its train pool; `train` is then sampled to the
protocol's size. A domain that ships one split only (MNIST's t10k here) has test carved out of
it, and a note saying so travels into the metadata and every report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from gantl.config import PrepareConfig
from gantl.data.domain import RawDomain, Split
from gantl.errors import ConfigError, DataError

_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class PreparedDomain:
    """A domain's three splits, with the raw row each image came from."""

    splits: dict[str, Split]
    raw_rows: dict[str, tuple[str, np.ndarray]]  # split → (raw split name, row index per image)
    notes: tuple[str, ...]


def experiment_shape(source: RawDomain, target: RawDomain, cfg: PrepareConfig) -> tuple[int, int]:
    """(image size, channels) shared by both domains of the experiment."""
    rgb = 3 in (source.shape[2], target.shape[2])
    channels = cfg.channels if cfg.channels != "auto" else (3 if rgb else 1)
    size = cfg.image_size if cfg.image_size != "auto" else (32 if channels == 3 else 28)
    return int(size), int(channels)


def convert_images(images: np.ndarray, size: int, channels: int, chunk: int = 4096) -> np.ndarray:
    """uint8 N×H×W×C → uint8 N×size×size×channels (antialiased bilinear; grey↔RGB by luma)."""
    n, h, w, c = images.shape
    if (h, w, c) == (size, size, channels):
        return images
    out = np.empty((n, size, size, channels), np.uint8)
    for i in range(0, n, chunk):
        x = torch.from_numpy(images[i : i + chunk]).permute(0, 3, 1, 2).float()
        if c == 1 and channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif c == 3 and channels == 1:
            x = (x * _LUMA).sum(1, keepdim=True)
        if (h, w) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        out[i : i + chunk] = x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return out


def split_domain(
    domain: RawDomain,
    cfg: PrepareConfig,
    train_size: int | None,
    size_field: str,
    rng: np.random.Generator,
) -> PreparedDomain:
    """Make train/val/test for one domain (see module docstring for the rules)."""
    notes = list(domain.notes)
    pools: dict[str, tuple[str, np.ndarray]] = {}
    raw_train, raw_test = domain.splits.get("train"), domain.splits.get("test")
    if raw_train is None and raw_test is None:
        raise DataError(f"{domain.spec}: domain has neither a train nor a test split")
    if raw_train is None or raw_test is None:
        only = "test" if raw_train is None else "train"
        n = len(domain.splits[only])
        perm = rng.permutation(n)
        n_test = round(cfg.holdout_fraction * n)
        pools["test"] = (only, np.sort(perm[:n_test]))
        pools["pool"] = (only, perm[n_test:])
        notes.append(
            f"{domain.name} has no separate {'train' if only == 'test' else 'test'} split: "
            f"its {n:,} '{only}' images were split {n - n_test:,} train pool / {n_test:,} test "
            f"(prepare.holdout_fraction={cfg.holdout_fraction}, seed {cfg.seed})"
        )
    else:
        pools["test"] = ("test", np.arange(len(raw_test)))
        pools["pool"] = ("train", rng.permutation(len(raw_train)))
    pool_split, pool = pools["pool"]
    n_val = max(1, round(cfg.val_fraction * len(pool)))
    val, rest = pool[:n_val], pool[n_val:]
    if train_size is not None:
        if train_size > len(rest):
            raise ConfigError(
                f"prepare.{size_field}: {train_size} training images requested but "
                f"{domain.spec} has only {len(rest)} left after holding out {n_val} for val"
            )
        rest = rest[:train_size]
    rows = {
        "train": (pool_split, np.sort(rest)),
        "val": (pool_split, np.sort(val)),
        "test": pools["test"],
    }
    splits = {name: domain.splits[raw].take(idx) for name, (raw, idx) in rows.items()}
    return PreparedDomain(splits=splits, raw_rows=rows, notes=tuple(notes))
