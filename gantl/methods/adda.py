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
from torch import nn

from gantl.config import AdaptConfig, AddaConfig
from gantl.methods.gan_losses import domain_accuracy, domain_loss, nonsaturating_g_loss
from gantl.models.classifier import Classifier, parameter_groups
from gantl.models.discriminator import DomainDiscriminator
from gantl.runtime import resolve_device, seed_everything
from gantl.training.data import AdaptationData
from gantl.training.meters import EpochAverage
from gantl.training.selection import AdaptResult, KeepBest


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
    # 2. update D: L_adv_D
    d_s, d_t = disc(f_s), disc(f_t.detach())
    d_loss = domain_loss(d_s, d_t)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    # 3. update M_t: L_adv_M, make D call target features "source"
    d_t = disc(f_t)
    g_loss = nonsaturating_g_loss(d_t)
    opt_t.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_t.step()
    # 4. log
    acc = domain_accuracy(d_s, d_t.detach())
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "domain_acc": acc}


def _train_without_dropout(module: nn.Module) -> nn.Module:
    """Train mode (batch norm follows the batch) with dropout off: D must not learn to tell
    M_t's noisy features from M_s's clean ones."""
    module.train()
    for m in module.modules():
        if isinstance(m, nn.Dropout | nn.Dropout2d):
            m.eval()
    return module


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
    groups = parameter_groups([target.encoder], cfg.lr, target.arch.backbone_lr)
    opt_t = torch.optim.Adam(groups, lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.disc_lr, betas=betas)
    keep = KeepBest(data, adapt, cfg.epochs, device, seed)
    for epoch in range(1, cfg.epochs + 1):
        _train_without_dropout(target.encoder)
        disc.train()
        meter = EpochAverage()
        for idx_s, idx_t in data.paired_batches(cfg.batch_size, generator):
            x_s, x_t = data.x_s[idx_s].to(device), data.x_t[idx_t].to(device)
            meter.add(adda_step(source.encoder, target.encoder, disc, opt_t, opt_d, x_s, x_t))
            if on_step is not None:
                on_step()
        keep.end_epoch(epoch, target, meter.means())
    return keep.result(target)
