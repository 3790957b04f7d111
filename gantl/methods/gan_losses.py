"""The GAN objectives both translators use, written as the equations of their papers.

D outputs raw scores (logits for the BCE and least-squares losses, critic values for WGAN);
`d_real = D(x)`, `d_fake = D(G(z))`, any shape (PatchGAN scores are averaged over patches).

Minimax (Goodfellow et al. 2014), with D(·) = σ(score):
    min_G max_D  E[log D(x)] + E[log(1 − D(G(z)))]
    L_D = −E[log D(x)] − E[log(1 − D(G(z)))]
    L_G (minimax)         =  E[log(1 − D(G(z)))]
    L_G (non-saturating)  = −E[log D(G(z))]        (the variant used in practice: strong early
                                                     gradients when D rejects G's samples)
Least squares, LSGAN (Mao et al. 2017; CycleGAN's choice, a = 0, b = c = 1):
    L_D = ½ E[(D(x) − 1)²] + ½ E[D(G(z))²]          L_G = E[(D(G(z)) − 1)²]
WGAN-GP (Gulrajani et al. 2017; StarGAN's choice):
    L_D = E[D(G(z))] − E[D(x)] + λ_gp E[(‖∇_x̂ D(x̂)‖₂ − 1)²],  x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1]
    L_G = −E[D(G(z))]
Domain classification (DANN, ADDA, CDAN): D tells source inputs (label 1) from target ones (0):
    L_d = ½ [BCE(d_s, 1) + BCE(d_t, 0)]     (with the labels flipped: the feature extractor's
                                             side of the alternating / inverted-label game)
Weighted domain classification (CDAN+E): each example's BCE weighted by w, the weights normalised
within each domain (by sums held constant), so equal weights give L_d:
    L_d^w = ½ [Σ_s w_i BCE(d_i, 1) / Σ_s w + Σ_t w_j BCE(d_j, 0) / Σ_t w]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

GanLoss = Literal["bce", "lsgan", "wgan"]


def bce_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """L_D = −E[log σ(d_real)] − E[log(1 − σ(d_fake))]."""
    return F.binary_cross_entropy_with_logits(
        d_real, torch.ones_like(d_real)
    ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))


def minimax_g_loss(d_fake: Tensor) -> Tensor:
    """G's side of the minimax game: E[log(1 − σ(d_fake))], minimised by G."""
    return -F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))


def nonsaturating_g_loss(d_fake: Tensor) -> Tensor:
    """−E[log σ(d_fake)]."""
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def lsgan_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """½ E[(d_real − 1)²] + ½ E[d_fake²]."""
    return 0.5 * (F.mse_loss(d_real, torch.ones_like(d_real)) + d_fake.pow(2).mean())


def lsgan_g_loss(d_fake: Tensor) -> Tensor:
    """E[(d_fake − 1)²]."""
    return F.mse_loss(d_fake, torch.ones_like(d_fake))


def wgan_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[d_fake] − E[d_real] (the gradient penalty is added by the caller)."""
    return d_fake.mean() - d_real.mean()


def wgan_g_loss(d_fake: Tensor) -> Tensor:
    """−E[d_fake]."""
    return -d_fake.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """E[(‖∇_x̂ D(x̂)‖₂ − 1)²] at x̂ = εx + (1 − ε)G(z), one ε per sample.

    `critic` returns a tensor whose sum over non-batch dims is the score (a PatchGAN map works).
    ε is drawn on the CPU from `generator`, so a seed reproduces it on any device.
    """
    eps = torch.rand(len(real), *([1] * (real.dim() - 1)), generator=generator)
    eps = eps.to(device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    score = critic(x_hat)
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def d_loss(kind: GanLoss, d_real: Tensor, d_fake: Tensor) -> Tensor:
    """The discriminator loss of `kind` (WGAN: without its gradient penalty)."""
    return {"bce": bce_d_loss, "lsgan": lsgan_d_loss, "wgan": wgan_d_loss}[kind](d_real, d_fake)


def g_loss(kind: GanLoss, d_fake: Tensor) -> Tensor:
    """The generator loss of `kind` (BCE: the non-saturating form)."""
    return {"bce": nonsaturating_g_loss, "lsgan": lsgan_g_loss, "wgan": wgan_g_loss}[kind](d_fake)


def domain_loss(d_s: Tensor, d_t: Tensor, source_label: float = 1.0) -> Tensor:
    """½ [BCE(d_s, s) + BCE(d_t, 1 − s)] with s = source_label: D's loss for s = 1, the inverted
    labels of the feature extractor's update for s = 0."""
    return 0.5 * (
        F.binary_cross_entropy_with_logits(d_s, torch.full_like(d_s, source_label))
        + F.binary_cross_entropy_with_logits(d_t, torch.full_like(d_t, 1.0 - source_label))
    )


def weighted_domain_loss(d_s: Tensor, d_t: Tensor, w_s: Tensor, w_t: Tensor) -> Tensor:
    """½ [Σ w_s BCE(d_s, 1) / Σ w_s + Σ w_t BCE(d_t, 0) / Σ w_t]: each domain's weights
    normalised to sum to 1 (the sums are constants: no gradient flows through them), as the
    official CDAN code does; w_s = w_t = 1 gives `domain_loss`."""
    bce_s = F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s), reduction="none")
    bce_t = F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t), reduction="none")
    return 0.5 * (
        (w_s * bce_s).sum() / w_s.sum().detach() + (w_t * bce_t).sum() / w_t.sum().detach()
    )


def domain_accuracy(d_s: Tensor, d_t: Tensor) -> float:
    """How often D is right: source logits > 0, target logits ≤ 0, averaged over both domains."""
    return float(((d_s > 0).float().mean() + (d_t <= 0).float().mean()) / 2)
