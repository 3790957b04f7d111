"""Where and how reproducibly torch runs: device choice, seeding, deterministic kernels."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from gantl.errors import ConfigError

# cuBLAS reads this when it creates its first handle, so it is set on import (every stage
# imports this module before touching CUDA), not when a training function seeds.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


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

    Every training function (source_only, dann, adda, cyclegan, stargan) calls this first, so it
    is the one place that switches on deterministic kernels: `use_deterministic_algorithms`
    (warn-only, so an op without a deterministic kernel warns instead of failing the run),
    cuDNN in deterministic mode and without autotuning (benchmark picks kernels by timing).
    The same params, seed, torch build and thread count then give bit-identical weights on CPU.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
