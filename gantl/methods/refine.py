"""Target self-training after adaptation: SHOT's information maximisation and self-supervised
pseudo-labels (Liang, Hu & Feng, ICML 2020, "Do We Really Need to Access the Source Data?").

    https://arxiv.org/abs/2002.08546

Code (vs. paper): `model.encoder` (the feature module g_t), `model.head` (the hypothesis h_t,
frozen as in SHOT), p = softmax(h_t(g_t(x))) over K classes. Only unlabelled target images
are trained on. Per step, on a target batch:

    L_ent = E_x[H(p(x))]                                   confident per-image predictions
    L_div = H(E_x[p(x)])                                   … spread over the classes
    L_IM  = L_ent − L_div                                  information maximisation
    L     = L_IM + β · CE(p(x), ŷ(x))                      with self-supervised pseudo-labels ŷ

Pseudo-labels, recomputed from clean target images before every epoch (SHOT, eq. 4–6), with
cosine distance D_f on the features f = g_t(x):

    c_k^(0) = Σ_x p_k(x) f(x) / Σ_x p_k(x)                 prediction-weighted centroids
    ŷ(x)    = argmin_k D_f(f(x), c_k^(0))
    c_k^(1) = Σ_x 1[ŷ(x) = k] f(x) / Σ_x 1[ŷ(x) = k]     one hard re-estimation
    ŷ(x)    = argmin_k D_f(f(x), c_k^(1))

With `augment`, each batch is randomly warped (gantl.data.augment) while its pseudo-labels come
from the clean images: without it the pseudo-labels lock in their own errors within a few
epochs. SGD with momentum, learning rate annealed as μ_0 (1 + α p)^−β, as SHOT's code.
Shapes: x N×C×H×W; f N×d; logits N×K.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F

from gantl.config import AdaptConfig, RefineConfig
from gantl.data.augment import augment_batch
from gantl.models.classifier import Classifier, parameter_groups
from gantl.runtime import resolve_device, seed_everything
from gantl.training.batches import shuffled_batches, shuffled_steps
from gantl.training.data import AdaptationData
from gantl.training.meters import EpochAverage
from gantl.training.schedules import annealed_lr, set_lr
from gantl.training.selection import AdaptResult, KeepBest


def information_maximization(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_ent, L_div): the mean per-image entropy and the entropy of the mean prediction."""
    log_p = F.log_softmax(logits, dim=1)
    p = log_p.exp()
    ent = -(p * log_p).sum(1).mean()
    p_mean = p.mean(0)
    div = -(p_mean * torch.log(p_mean + 1e-5)).sum()
    return ent, div


@torch.no_grad()
def centroid_pseudo_labels(features: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """SHOT's self-supervised labels: nearest class centroid (cosine), centroids first weighted
    by the predictions, then re-estimated once from the hard labels."""
    f = F.normalize(features.double(), dim=1)
    p = torch.softmax(logits.double(), dim=1)
    centroids = p.T @ f / (p.sum(0)[:, None] + 1e-8)
    labels = (f @ F.normalize(centroids, dim=1).T).argmax(1)
    onehot = F.one_hot(labels, p.shape[1]).double()
    centroids = onehot.T @ f / (onehot.sum(0)[:, None] + 1e-8)
    return (f @ F.normalize(centroids, dim=1).T).argmax(1)


def refine_step(
    model: Classifier,
    optimizer: torch.optim.Optimizer,
    x_t: torch.Tensor,
    pseudo: torch.Tensor,
    beta: float,
) -> dict[str, float]:
    """One update of F on a target batch: L_ent − L_div + β CE(·, ŷ)."""
    # 1. predictions on the (possibly warped) target batch
    logits = model(x_t)
    # 2. losses
    ent, div = information_maximization(logits)
    pl_loss = F.cross_entropy(logits, pseudo)
    loss = ent - div + beta * pl_loss
    # 3. update F (the head is frozen)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"ent": ent.item(), "div": div.item(), "pseudo_label_loss": pl_loss.item()}


@torch.no_grad()
def _features_and_logits(model: Classifier, x: torch.Tensor, device: torch.device):
    model.eval()
    feats = [model.features(x[i : i + 512].to(device)) for i in range(0, len(x), 512)]
    f = torch.cat(feats)
    return f.cpu(), model.head(f).cpu()


def train_refine(
    start: Classifier,
    data: AdaptationData,
    cfg: RefineConfig,
    adapt: AdaptConfig,
    seed: int,
    on_step: Callable[[], None] | None = None,
) -> AdaptResult:
    """Self-train `start` (any adapted model) on the unlabelled target train images."""
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    device = resolve_device(cfg.device)
    model = copy.deepcopy(start).to(device)
    model.head.requires_grad_(False)  # SHOT: the source hypothesis stays fixed
    optimizer = torch.optim.SGD(
        parameter_groups([model.encoder], cfg.lr, model.arch.backbone_lr),
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        nesterov=True,
    )
    steps = shuffled_steps(len(data.x_t), cfg.batch_size)
    keep = KeepBest(data, adapt, cfg.epochs, device, seed)
    for epoch in range(1, cfg.epochs + 1):
        pseudo = centroid_pseudo_labels(*_features_and_logits(model, data.x_t, device))
        model.train()
        meter = EpochAverage()
        for i, idx in enumerate(shuffled_batches(len(data.x_t), cfg.batch_size, generator)):
            p = ((epoch - 1) * steps + i) / (cfg.epochs * steps)
            set_lr(optimizer, annealed_lr(p, cfg.lr, cfg.lr_alpha, cfg.lr_beta))
            x_t = augment_batch(data.x_t[idx], cfg.augment, generator)
            meter.add(
                refine_step(model, optimizer, x_t.to(device), pseudo[idx].to(device), cfg.beta)
            )
            if on_step is not None:
                on_step()
        keep.end_epoch(epoch, model, meter.means())
    return keep.result(model)
