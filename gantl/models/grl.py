"""Gradient reversal (Ganin & Lempitsky, ICML 2015); λ_p's schedule: gantl.training.schedules.

Forward: identity. Backward: the gradient times −λ. Put between the feature extractor F and the
domain classifier D, one backward pass trains D to tell the domains apart while F learns to
make them indistinguishable: min over F, C of L_y − λ L_d, max over D of L_d.
"""

from __future__ import annotations

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
