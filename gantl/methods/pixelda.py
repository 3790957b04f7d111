"""PixelDA: unsupervised pixel-level domain adaptation (Bousmalis et al., CVPR 2017).

    https://arxiv.org/abs/1612.05424

A generator G(x_s, z) restyles a labelled source image, with a noise vector z, so that a
discriminator D cannot tell it from target images, while a task classifier T, trained on the
generated images and the source images together, keeps reading the source label off it:

    min_{G,T} max_D   α L_adv(D, G) + β L_task(G, T) + γ L_content(G)  [+ δ L_div(G)]

    L_adv     = the GAN loss of D(x_t) against D(G(x_s, z))           (least squares by default)
    L_task    = ½ [CE(T(G(x_s, z)), y_s) + CE(T(x_s), y_s)]
    L_content = PMSE(G(x_s, z), x_s) = (1/k)‖d‖² − (1/k²)(d·1)²,   d = G(x_s, z) − x_s

PMSE (pairwise mean squared error, the paper's content-similarity loss) penalises the
differences between pairs of pixels that translation changed, not a uniform shift: it is the
per-image variance of d, so a generator may recolour the whole image but not move its strokes.
The paper applies it within foreground masks (LineMod); here it covers the whole image.

A generator may ignore z and give every image one style (on MNIST → MNIST-M: one dark palette
for all backgrounds, where the target's come from many photos). `lambda_diversity` > 0 adds
the mode-seeking term of MSGAN (Mao et al., CVPR 2019), for the first half of the batch drawn
again with fresh noise z':

    L_div = 1 / (mean|G(x, z) − G(x, z')| / mean|z − z'| + ε)

so two noise vectors that differ must give images that differ, and translated copies
(`translate.copies`) are varied labelled data rather than one image k times.
G and T share one optimiser (Adam), D has its own; they alternate once per step. The task
classifier starts from the source classifier. Only G is kept: the pipeline trains its own
models on the translations.

What is kept (and scored each epoch) is an exponential moving average of G's weights,
G_ema ← ema · G_ema + (1 − ema) · G after every step (Yazıcı et al., ICLR 2019, "The unusual
effectiveness of averaging in GAN training"): the live generator swings between colour schemes
from one epoch to the next (on MNIST → MNIST-M, label preservation 94 → 73 → 93 %), and the
average of its recent weights does not. ema = 0 keeps the live generator. Early on the decay
is min(ema, (1 + t)/(10 + t)) at step t, so the average does not drag the random initial
weights along for its first few hundred steps.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gantl.config import PixelDaConfig
from gantl.methods.gan_losses import d_loss, g_loss
from gantl.models.cyclegan_nets import PatchDiscriminator
from gantl.models.pixelda_nets import PixelDAGenerator
from gantl.runtime import resolve_device, seed_everything
from gantl.training.batches import balanced_steps, paired_batches
from gantl.training.gan_loop import EpochLoop
from gantl.training.meters import EpochAverage
from gantl.training.schedules import set_lr


def pmse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise mean squared error, averaged over the batch: the variance of x − y per image."""
    d = (x - y).flatten(1)
    return (d.pow(2).mean(1) - d.mean(1).pow(2)).mean()


def sample_noise(n: int, z_dim: int, generator: torch.Generator) -> torch.Tensor:
    """z ~ U[−1, 1]^z_dim, drawn on the CPU so a seed reproduces it on any device."""
    return torch.rand(n, z_dim, generator=generator) * 2 - 1


@torch.no_grad()
def update_average(average: nn.Module, live: nn.Module, ema: float) -> None:
    """average ← ema · average + (1 − ema) · live for parameters; buffers (BatchNorm's running
    statistics) are copied."""
    for a, p in zip(average.parameters(), live.parameters(), strict=True):
        a.lerp_(p, 1.0 - ema)
    for a, b in zip(average.buffers(), live.buffers(), strict=True):
        a.copy_(b)


DIVERSITY_EPS = 1e-5  # MSGAN's


def mode_seeking(
    fake: torch.Tensor, fake2: torch.Tensor, z: torch.Tensor, z2: torch.Tensor
) -> torch.Tensor:
    """MSGAN's term: 1 / (mean|G(x, z) − G(x, z')| / mean|z − z'| + ε), small when noise matters."""
    ratio = (fake - fake2).abs().mean() / (z - z2).abs().mean()
    return 1.0 / (ratio + DIVERSITY_EPS)


def pixelda_step(
    nets: dict[str, nn.Module],
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x_s: torch.Tensor,
    y_s: torch.Tensor,
    x_t: torch.Tensor,
    z: torch.Tensor,
    cfg: PixelDaConfig,
    z2: torch.Tensor | None = None,
) -> dict[str, float]:
    """One update of G and T together, then one of D. `z2`: fresh noise for the first len(z2)
    source images (the diversity term; needed when `cfg.lambda_diversity` > 0)."""
    G, D, T = nets["G"], nets["D"], nets["T"]
    n, k = len(x_s), 0 if z2 is None else len(z2)
    # one pass for both draws, so batch norm sees one batch
    out = G(torch.cat([x_s, x_s[:k]]), torch.cat([z, z2])) if k else G(x_s, z)
    fake = out[:n]
    # 1. G and T: fool D, keep the label readable, change no more than the style
    D.requires_grad_(False)
    loss_adv = g_loss(cfg.gan_loss, D(fake))
    loss_task = 0.5 * (F.cross_entropy(T(fake), y_s) + F.cross_entropy(T(x_s), y_s))
    loss_content = pmse(fake, x_s)
    loss = cfg.lambda_adv * loss_adv + cfg.lambda_task * loss_task
    if cfg.lambda_content > 0:
        loss = loss + cfg.lambda_content * loss_content
    logs = {}
    if cfg.lambda_diversity > 0:
        if not k:
            raise ValueError("lambda_diversity > 0 needs fresh noise z2 for the diversity term")
        loss_div = mode_seeking(fake[:k], out[n:], z[:k], z2)
        loss = loss + cfg.lambda_diversity * loss_div
        logs["diversity"] = loss_div.item()
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    # 2. D: target images are real, generated ones fake
    D.requires_grad_(True)
    loss_d = d_loss(cfg.gan_loss, D(x_t), D(fake.detach()))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    return {
        "g_adv": loss_adv.item(),
        "task": loss_task.item(),
        "content": loss_content.item(),
        "d": loss_d.item(),
    } | logs


@dataclass(frozen=True)
class PixelDaResult:
    G: PixelDAGenerator  # (source image, noise) → target style: the averaged weights, eval mode
    history: list[dict]  # per epoch: mean losses, lr, seconds and whatever on_epoch returned
    resumed_from: int  # last epoch of the state the run continued from (0: a fresh start)
    device: str
    seconds: float
    best_epoch: int  # the epoch whose generator this is (the last one without a score)


def train_pixelda(
    x_s: torch.Tensor,
    y_s: torch.Tensor,
    x_t: torch.Tensor,
    cfg: PixelDaConfig,
    classifier: nn.Module,
    seed: int = 0,
    state_dir: Path | None = None,
    run_id: str = "",
    on_step: Callable[[], None] | None = None,
    on_epoch: Callable[[int, PixelDAGenerator], dict[str, float]] | None = None,
    budget_minutes: float | None = None,
    score: Callable[[dict], float] | None = None,
) -> PixelDaResult:
    """Train on labelled source images (x_s, y_s) and unlabelled target images x_t, N×C×H×W in
    [−1, 1]; `classifier` (the source model) is T's starting point. Resuming, the time budget,
    `on_epoch` and `score` work as in `gantl.methods.cyclegan.train_cyclegan`."""
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    device = resolve_device(cfg.device)
    if x_s.shape[1:] != x_t.shape[1:] or x_s.shape[-1] != x_s.shape[-2]:
        raise ValueError(f"PixelDA needs square images of one shape: {x_s.shape}, {x_t.shape}")
    channels, size = x_s.shape[1], x_s.shape[-1]
    nets: dict[str, nn.Module] = {
        "G": PixelDAGenerator(channels, size, cfg.ngf, cfg.n_blocks, cfg.z_dim).to(device),
        "D": PatchDiscriminator(channels, cfg.ndf, cfg.d_layers).to(device),
        "T": copy.deepcopy(classifier).to(device).requires_grad_(True),
    }
    nets["G_ema"] = copy.deepcopy(nets["G"]).requires_grad_(False)  # what is kept
    betas = (cfg.beta1, cfg.beta2)
    opt_g = torch.optim.Adam([*nets["G"].parameters(), *nets["T"].parameters()], cfg.lr, betas)
    opt_d = torch.optim.Adam(nets["D"].parameters(), cfg.lr, betas)
    loop = EpochLoop.build(
        "pixelda",
        cfg,
        (seed, run_id, list(x_s.shape), list(x_t.shape)),
        modules=nets,
        optimizers={"G": opt_g, "D": opt_d},
        generator=generator,
        keep={"G": nets["G_ema"]},
        state_dir=state_dir,
        budget_minutes=budget_minutes,
        score=score,
    )
    steps_per_epoch = balanced_steps((len(x_s), len(x_t)), cfg.batch_size)

    def train_epoch(epoch: int, lr_factor: float) -> dict[str, float]:
        lr = cfg.lr * lr_factor
        set_lr(opt_g, lr)
        set_lr(opt_d, lr)
        for net in nets.values():
            net.train()
        meter = EpochAverage()
        batches = paired_batches(len(x_s), len(x_t), cfg.batch_size, generator)
        for i, (idx_s, idx_t) in enumerate(batches):
            t = (epoch - 1) * steps_per_epoch + i
            z = sample_noise(len(idx_s), cfg.z_dim, generator).to(device)
            z2 = None  # fresh noise for half the batch, drawn only when the term is on
            if cfg.lambda_diversity > 0:
                z2 = sample_noise(max(1, len(idx_s) // 2), cfg.z_dim, generator).to(device)
            batch = (x_s[idx_s].to(device), y_s[idx_s].to(device), x_t[idx_t].to(device))
            meter.add(pixelda_step(nets, opt_g, opt_d, *batch, z, cfg, z2))
            update_average(nets["G_ema"], nets["G"], min(cfg.ema, (1 + t) / (10 + t)))
            if on_step is not None:
                on_step()
        return {"lr": lr, **meter.means()}

    def metrics(epoch: int) -> dict[str, float]:
        nets["G_ema"].eval()
        return on_epoch(epoch, nets["G_ema"]) if on_epoch is not None else {}

    outcome = loop.run(train_epoch, metrics)
    return PixelDaResult(
        G=nets["G_ema"].cpu().eval(),
        history=outcome.history,
        resumed_from=outcome.resumed_from,
        device=str(device),
        seconds=outcome.seconds,
        best_epoch=loop.best.epoch or outcome.last_epoch,
    )


@torch.no_grad()
def translate(
    G: PixelDAGenerator, x: torch.Tensor, seed: int = 0, batch_size: int = 256
) -> torch.Tensor:
    """G(x, z) in batches on G's device, a fresh z per image drawn from `seed`; CPU tensors."""
    device = next(G.parameters()).device
    G.eval()
    noise = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        z = sample_noise(len(xb), G.z_dim, noise)
        out.append(G(xb.to(device), z.to(device)).cpu())
    return torch.cat(out) if out else x.clone()
