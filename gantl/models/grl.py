"""Gradient reversal (Ganin & Lempitsky, ICML 2015) and the schedules DANN trains with.

Forward: identity. Backward: the gradient times −λ. Put between the feature extractor F and the
domain classifier D, one backward pass trains D to tell the domains apart while F learns to
make them indistinguishable: min over F, C of L_y − λ L_d, max over D of L_d.

    λ_p = 2 / (1 + exp(−γ p)) − 1          (γ = 10; p: training progress in [0, 1])
    μ_p = μ_0 / (1 + α p)^β                (α = 10, β = 0.75)
"""

from __future__ import annotations

import math

import torch
from torch.autograd import Function


class _GradientReverse(Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:  # type: ignore[override]
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad_output.neg() * ctx.coeff, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Identity on the way forward; multiplies the gradient by −coeff on the way back."""
    return _GradientReverse.apply(x, coeff)


def dann_lambda(p: float, gamma: float = 10.0, hi: float = 1.0) -> float:
    """Adaptation factor λ_p, rising from 0 to `hi` so early, noisy D signals are damped."""
    return hi * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


def annealed_lr(p: float, lr0: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """Learning rate μ_p = μ_0 / (1 + α p)^β of the DANN paper."""
    return lr0 / (1.0 + alpha * p) ** beta
