"""Schedules, written as the math of the papers that use them (p: training progress in [0, 1]).

λ_p = λ · (2 / (1 + exp(−γ p)) − 1)     DANN's adaptation factor (γ = 10)
μ_p = μ_0 / (1 + α p)^β                 DANN's annealed learning rate (α = 10, β = 0.75)
linear decay                            CycleGAN / StarGAN: constant, then linearly to ~0
"""

from __future__ import annotations

import math

import torch


def dann_lambda(p: float, gamma: float = 10.0, hi: float = 1.0) -> float:
    """Adaptation factor λ_p, rising from 0 to `hi` so early, noisy D signals are damped."""
    return hi * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


def annealed_lr(p: float, lr0: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """Learning rate μ_p = μ_0 / (1 + α p)^β of the DANN paper."""
    return lr0 / (1.0 + alpha * p) ** beta


def linear_decay(epoch: int, epochs: int, decay_epochs: int) -> float:
    """1 for the first epochs − decay_epochs epochs, then linearly down to 1/(decay_epochs + 1)."""
    return 1.0 - max(0, epoch - (epochs - decay_epochs)) / (decay_epochs + 1)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every parameter group of `optimizer` to learning rate `lr` × its `lr_mult` (a
    fine-tuned backbone's share, gantl.models.classifier.parameter_groups; else 1)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)
