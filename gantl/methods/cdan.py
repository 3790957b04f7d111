"""CDAN (+E): Conditional Domain Adversarial Networks (Long, Cao, Wang & Jordan, NeurIPS 2018).

    https://arxiv.org/abs/1705.10667

DANN's game with the domain discriminator D conditioned on the classifier's prediction. With
features f = F(x) (N×d), predictions g = softmax(C(f)) (N×K) and d = 1 for source, 0 for target,
D sees a map T(f, g) (gantl.models.multilinear):

    T⊗(f, g) = g ⊗ f, flattened to N×(K·d)                        (multilinear map)
    T⊙(f, g) = (1/√d_out) (R_f f) ⊙ (R_g g),  R ~ N(0, 1), fixed   (randomized, N×d_out)

T⊙ when `randomized` is true, or ("auto") when K·d > `randomize_above` (4096); R_f, R_g are drawn
once from a generator seeded with the run's seed and kept as buffers, never trained. Then

    E(C)    = L_y(C(F(x_s)), y_s)
    E(D, G) = ½ [Σ_s w̃_i BCE(D(T_i), 1) + Σ_t w̃_j BCE(D(T_j), 0)]
    min_{F,C} E(C) − λ_p E(D, G),   min_D E(D, G)

Entropy conditioning (CDAN+E) weighs each example by w = 1 + exp(−H(g)), H(g) = −Σ_k g_k log g_k,
so that confident predictions count more, normalised within each domain, w̃_i = w_i / Σ_domain w
(the official code's normalisation); plain CDAN takes w̃ = 1/n, DANN's domain loss on T.
One backward pass through a gradient reversal layer between T and D (T is linear in f for a
fixed g, so this is reversing at f) and one SGD optimiser over F, C and D; λ_p and the learning
rate follow DANN's schedules.

Detached, as in the official code (thuml/CDAN, pytorch/loss.py):
- g inside T: D's gradient reaches F only through f, and never reaches C through the map;
- the per-domain sums Σ_domain w that normalise the weights.
Not detached: the weights w themselves. As in the official code (a reversal hook on the entropy)
and as the min-max above states, E(D, G)'s gradient flows through H(g) into F and C, reversed
and scaled by λ_p. (TLlib detaches g before the entropy, so its weights are constants.)
Shapes: x_s, x_t N×C×H×W; f N×d; g N×K; T(f, g) N×(K·d) or N×d_out; D(T) N (logits).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gantl.config import AdaptConfig, CdanConfig
from gantl.methods.gan_losses import domain_accuracy, domain_loss, weighted_domain_loss
from gantl.models.classifier import Classifier, parameter_groups
from gantl.models.discriminator import DomainDiscriminator
from gantl.models.grl import grad_reverse
from gantl.models.multilinear import MultilinearMap, RandomizedMultilinearMap
from gantl.runtime import resolve_device, seed_everything
from gantl.training.data import AdaptationData
from gantl.training.meters import EpochAverage
from gantl.training.schedules import annealed_lr, dann_lambda, set_lr
from gantl.training.selection import AdaptResult, KeepBest


def conditioning_map(features: int, classes: int, cfg: CdanConfig, seed: int) -> nn.Module:
    """T⊙ when `cfg.randomized` is true, or is "auto" and K·d > `cfg.randomize_above`; else T⊗.
    T⊙'s R_f and R_g come from a generator seeded with `seed`."""
    randomized = cfg.randomized
    if randomized == "auto":
        randomized = features * classes > cfg.randomize_above
    if not randomized:
        return MultilinearMap(features, classes)
    generator = torch.Generator().manual_seed(seed)
    return RandomizedMultilinearMap(features, classes, cfg.randomized_dim, generator)


def entropy_weights(logits: torch.Tensor, lam: float) -> torch.Tensor:
    """w = 1 + exp(−H(g)), g = softmax(logits); the gradient through H is reversed (× −λ)."""
    log_g = F.log_softmax(logits, dim=1)
    entropy = -(log_g.exp() * log_g).sum(1)
    return 1.0 + torch.exp(-grad_reverse(entropy, lam))


def cdan_step(
    model: Classifier,
    disc: DomainDiscriminator,
    mapping: nn.Module,
    optimizer: torch.optim.Optimizer,
    x_s: torch.Tensor,
    y_s: torch.Tensor,
    x_t: torch.Tensor,
    lam: float,
    entropy_conditioning: bool,
) -> dict[str, float]:
    """One gradient-reversal step: L_y + L_d(T(f, g)), with −λ on L_d's gradient into F and C."""
    # 1. features and predictions of both domains in one pass (shared batch-norm statistics)
    n = len(x_s)
    f = model.features(torch.cat([x_s, x_t]))
    logits = model.head(f)
    cls_loss = F.cross_entropy(logits[:n], y_s)
    # 2. D on the conditioning map of f and the detached softmax g, behind the reversal layer
    g = F.softmax(logits, dim=1).detach()
    d = disc(grad_reverse(mapping(f, g), lam))
    d_s, d_t = d[:n], d[n:]
    # 3. the domain loss: entropy-weighted (CDAN+E) or plain
    if entropy_conditioning:
        w = entropy_weights(logits, lam)
        loss_d = weighted_domain_loss(d_s, d_t, w[:n], w[n:])
    else:
        loss_d = domain_loss(d_s, d_t)
    # 4. one backward pass updates C and D, and F through the reversed gradient
    optimizer.zero_grad(set_to_none=True)
    (cls_loss + loss_d).backward()
    optimizer.step()
    return {
        "cls_loss": cls_loss.item(),
        "domain_loss": loss_d.item(),
        "domain_acc": domain_accuracy(d_s.detach(), d_t.detach()),
    }


def train_cdan(
    source_model: Classifier,
    data: AdaptationData,
    cfg: CdanConfig,
    adapt: AdaptConfig,
    seed: int,
    on_step: Callable[[], None] | None = None,
) -> AdaptResult:
    """Adapt `source_model` (or a fresh copy of its architecture, `init="scratch"`) with CDAN."""
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    device = resolve_device(cfg.device)
    model = copy.deepcopy(source_model) if cfg.init == "source" else Classifier(source_model.arch)
    model.to(device)
    classes = model.arch.num_classes
    mapping = conditioning_map(model.encoder.out_features, classes, cfg, seed).to(device)
    disc = DomainDiscriminator(mapping.out_features, cfg.disc_hidden).to(device)
    optimizer = torch.optim.SGD(
        parameter_groups([model, disc], cfg.lr, model.arch.backbone_lr),
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
    )
    steps = data.steps_per_epoch(cfg.batch_size)
    total = cfg.epochs * steps
    keep = KeepBest(data, adapt, cfg.epochs, device, seed)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        disc.train()
        meter = EpochAverage()
        pairs = data.paired_batches(cfg.batch_size, generator)
        for i, (idx_s, idx_t) in enumerate(pairs):
            # progress p drives both schedules: μ_p for the optimiser, λ_p for the GRL
            p = ((epoch - 1) * steps + i) / total
            set_lr(optimizer, annealed_lr(p, cfg.lr, cfg.lr_alpha, cfg.lr_beta))
            lam = dann_lambda(p, cfg.gamma, cfg.trade_off)
            x_s, y_s = data.x_s[idx_s].to(device), data.y_s[idx_s].to(device)
            x_t = data.x_t[idx_t].to(device)
            logs = cdan_step(
                model, disc, mapping, optimizer, x_s, y_s, x_t, lam, cfg.entropy_conditioning
            )
            meter.add(logs)
            if on_step is not None:
                on_step()
        keep.end_epoch(epoch, model, meter.means() | {"lambda": lam})
    return keep.result(model)
