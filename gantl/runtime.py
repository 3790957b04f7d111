"""Where and how reproducibly torch runs: device choice, seeding, deterministic kernels."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from gantl.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` → CUDA when present, else CPU; an explicit device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available; use 'auto'")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator for batch order.

    Deterministic algorithms are switched on (warn-only for ops without one), so the same params
    and seed give the same numbers on the same CPU build.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
