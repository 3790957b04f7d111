"""ADDA: Adversarial Discriminative Domain Adaptation (Tzeng et al., CVPR 2017).

    https://arxiv.org/abs/1702.05464

Code (vs. paper): `source.encoder` (M_s), `source.head` (C), `target.encoder` (M_t), `disc` (D).
M_s and C are trained on source labels first (the pretrain stage) and stay frozen. M_t starts
as a copy of M_s and is trained, GAN-style with the inverted label, so that D cannot tell its
target features from M_s's source features:

    min_D  L_adv_D = −E_{x_s}[log D(M_s(x_s))] − E_{x_t}[log(1 − D(M_t(x_t)))]
    min_Mt L_adv_M = −E_{x_t}[log D(M_t(x_t))]

The adapted classifier is C ∘ M_t.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gantl.config import AdaptConfig, AddaConfig
from gantl.methods.adaptation import (
    AdaptationData,
    AdaptResult,
    paired_batches,
    run_epochs,
    steps_per_epoch,
    train_without_dropout,
)
from gantl.models.classifier import Classifier
from gantl.models.discriminator import DomainDiscriminator
from gantl.runtime import resolve_device, seed_everything


def adda_step(
    source_encoder: nn.Module,
    target_encoder: nn.Module,
    disc: DomainDiscriminator,
    opt_t: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x_s: torch.Tensor,
    x_t: torch.Tensor,
) -> dict[str, float]:
    """Update D (source = 1, target = 0), then M_t with the inverted label."""
    # 1. prepare features: M_s is frozen
    with torch.no_grad():
        f_s = source_encoder(x_s)
    f_t = target_encoder(x_t)
    # 2. update D
    d_s, d_t = disc(f_s), disc(f_t.detach())
    d_loss = 0.5 * (
        F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s))
        + F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t))
    )
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    # 3. update M_t: make D call target features "source"
    d_t = disc(f_t)
    g_loss = F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t))
    opt_t.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_t.step()
    # 4. log
    acc = ((d_s > 0).float().mean() + (d_t.detach() <= 0).float().mean()) / 2
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "domain_acc": float(acc)}


def train_adda(
    source_model: Classifier,
    data: AdaptationData,
    cfg: AddaConfig,
    adapt: AdaptConfig,
    seed: int,
    on_step: Callable[[], None] | None = None,
) -> AdaptResult:
    """Train M_t against D; return C ∘ M_t at the epochs the validators choose."""
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    device = resolve_device(cfg.device)
    source = copy.deepcopy(source_model).to(device).eval()
    for p in source.parameters():
        p.requires_grad_(False)
    target = copy.deepcopy(source)  # C ∘ M_t: shares nothing with `source` but its values
    for p in target.encoder.parameters():
        p.requires_grad_(True)
    disc = DomainDiscriminator(source.encoder.out_features, cfg.disc_hidden).to(device)
    betas = (cfg.beta1, cfg.beta2)
    opt_t = torch.optim.Adam(target.encoder.parameters(), lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.disc_lr, betas=betas)
    steps = steps_per_epoch(len(data.x_s), len(data.x_t), cfg.batch_size)

    def train_epoch(epoch: int) -> dict[str, float]:
        train_without_dropout(target.encoder)  # D must not learn dropout noise apart from M_s
        disc.train()
        sums: dict[str, float] = {}
        for idx_s, idx_t in paired_batches(len(data.x_s), len(data.x_t), cfg.batch_size, generator):
            x_s, x_t = data.x_s[idx_s].to(device), data.x_t[idx_t].to(device)
            logs = adda_step(source.encoder, target.encoder, disc, opt_t, opt_d, x_s, x_t)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            if on_step is not None:
                on_step()
        return {k: v / steps for k, v in sums.items()}

    return run_epochs(
        target,
        data,
        cfg.epochs,
        train_epoch,
        adapt,
        device,
        seed,
    )
