"""DANN: Domain-Adversarial Neural Networks (Ganin & Lempitsky, ICML 2015; Ganin et al., JMLR 2016).

    https://arxiv.org/abs/1409.7495

A feature extractor F, a label predictor C and a domain classifier D behind a gradient reversal
layer (gantl.models.grl). With d = 1 for source and 0 for target:

    E(F, C, D) = L_y(C(F(x_s)), y_s) − λ_p · L_d(D(F(x)), d)
    (F̂, Ĉ) = argmin E,   D̂ = argmax E

`variant="grl"` optimises this saddle point with one backward pass (D sees reversed gradients
flowing into F). `variant="alternating"` updates D on detached features, then F and C to fool
D with flipped domain labels — the GAN-style form many reimplementations use.
Shapes: x_s, x_t N×C×H×W; f = F(x) N×d; D(f) N (logits).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gantl.config import AdaptConfig, DannConfig
from gantl.methods.gan_losses import domain_accuracy, domain_loss
from gantl.models.classifier import Classifier, parameter_groups
from gantl.models.discriminator import DomainDiscriminator
from gantl.models.grl import grad_reverse
from gantl.runtime import resolve_device, seed_everything
from gantl.training.data import AdaptationData
from gantl.training.distributed import (
    averaged,
    mean_over_processes,
    shard,
    sync_batch_norm,
    world,
)
from gantl.training.meters import EpochAverage
from gantl.training.schedules import annealed_lr, dann_lambda, set_lr
from gantl.training.selection import AdaptResult, KeepBest


def dann_step(
    model: Classifier,
    disc: DomainDiscriminator,
    optimizer: torch.optim.Optimizer,
    x_s: torch.Tensor,
    y_s: torch.Tensor,
    x_t: torch.Tensor,
    lam: float,
) -> dict[str, float]:
    """One gradient-reversal step: L_y + L_d, with −λ on L_d's gradient into F."""
    # 1. features of both domains in one pass (shared batch-norm statistics)
    f = model.features(torch.cat([x_s, x_t]))
    f_s = f[: len(x_s)]
    # 2. losses
    cls_loss = F.cross_entropy(model.head(f_s), y_s)
    d = disc(grad_reverse(f, lam))
    d_s, d_t = d[: len(x_s)], d[len(x_s) :]
    loss_d = domain_loss(d_s, d_t)
    loss = cls_loss + loss_d
    # 3. one backward pass updates C and D, and F through the reversed gradient
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {
        "cls_loss": cls_loss.item(),
        "domain_loss": loss_d.item(),
        "domain_acc": domain_accuracy(d_s, d_t),
    }


def dann_alternating_step(
    model: Classifier,
    disc: DomainDiscriminator,
    opt_f: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x_s: torch.Tensor,
    y_s: torch.Tensor,
    x_t: torch.Tensor,
    lam: float,
) -> dict[str, float]:
    """Update D on detached features, then F and C against D with flipped domain labels."""
    # 1. features of both domains in one pass
    f = model.features(torch.cat([x_s, x_t]))
    n = len(x_s)
    # 2. update D: source → 1, target → 0
    d = disc(f.detach())
    d_loss = domain_loss(d[:n], d[n:])
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    # 3. update F, C: classify the source, make D call source "target" and target "source"
    d = disc(f)
    cls_loss = F.cross_entropy(model.head(f[:n]), y_s)
    g_loss = domain_loss(d[:n], d[n:], source_label=0.0)
    loss = cls_loss + lam * g_loss
    opt_f.zero_grad(set_to_none=True)
    loss.backward()
    opt_f.step()
    return {
        "cls_loss": cls_loss.item(),
        "domain_loss": d_loss.item(),
        "domain_acc": domain_accuracy(d[:n].detach(), d[n:].detach()),
    }


def train_dann(
    source_model: Classifier,
    data: AdaptationData,
    cfg: DannConfig,
    adapt: AdaptConfig,
    seed: int,
    on_step: Callable[[], None] | None = None,
) -> AdaptResult:
    """Adapt `source_model` (or a fresh copy of its architecture, `init="scratch"`) with DANN."""
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    device = resolve_device(cfg.device)
    model = copy.deepcopy(source_model) if cfg.init == "source" else Classifier(source_model.arch)
    model = sync_batch_norm(model.to(device), device)  # one batch over processes (torchrun)
    disc = DomainDiscriminator(model.encoder.out_features, cfg.disc_hidden).to(device)
    processes = world()[1]  # each takes its share of a global batch of processes × batch_size

    def sgd(*modules: nn.Module) -> torch.optim.SGD:
        groups = parameter_groups(modules, cfg.lr, model.arch.backbone_lr)
        return averaged(
            torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        )

    optimizers = [sgd(model, disc)] if cfg.variant == "grl" else [sgd(model), sgd(disc)]
    steps = data.steps_per_epoch(cfg.batch_size * processes)
    total = cfg.epochs * steps
    keep = KeepBest(data, adapt, cfg.epochs, device, seed)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        disc.train()
        meter = EpochAverage()
        pairs = data.paired_batches(cfg.batch_size * processes, generator)
        for i, (idx_s, idx_t) in enumerate(pairs):
            idx_s, idx_t = shard(idx_s), shard(idx_t)
            # progress p drives both schedules: μ_p for every optimiser, λ_p for the GRL
            p = ((epoch - 1) * steps + i) / total
            for opt in optimizers:
                set_lr(opt, annealed_lr(p, cfg.lr, cfg.lr_alpha, cfg.lr_beta))
            lam = dann_lambda(p, cfg.gamma, cfg.trade_off)
            x_s, y_s = data.x_s[idx_s].to(device), data.y_s[idx_s].to(device)
            x_t = data.x_t[idx_t].to(device)
            if cfg.variant == "grl":
                meter.add(dann_step(model, disc, optimizers[0], x_s, y_s, x_t, lam))
            else:
                meter.add(dann_alternating_step(model, disc, *optimizers, x_s, y_s, x_t, lam))
            if on_step is not None:
                on_step()
        keep.end_epoch(epoch, model, mean_over_processes(meter.means()) | {"lambda": lam})
    return keep.result(model)
