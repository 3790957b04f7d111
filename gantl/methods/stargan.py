"""StarGAN: one generator translating between any of k domains (Choi et al., CVPR 2018).

    https://arxiv.org/abs/1711.09020

Code (vs. paper): `G` (G), `D` with heads D_src and D_cls; c = one-hot domain label; c_org the
label of the real image, c_trg the requested one. Losses (WGAN-GP adversarial loss, as the
paper's experiments):

    L_D = −E[D_src(x)] + E[D_src(G(x, c_trg))] + λ_cls CE(D_cls(x), c_org) + λ_gp GP
    L_G = −E[D_src(G(x, c_trg))] + λ_cls CE(D_cls(G(x, c_trg)), c_trg)
          + λ_rec ‖x − G(G(x, c_trg), c_org)‖₁
          + λ_sem CE(f(G(x, c_trg)), p_f(x))                          semantic (CyCADA's, optional)

D is updated every step, G every `n_critic` steps. Each step draws `batch_size` images from
every domain and sends each to a random *other* domain (with two domains: always the other).
f is the frozen source classifier and p_f(x) = argmax f(x): as in CyCADA's CycleGAN, a
translated 3 must stay a 3 (Hoffman et al., ICML 2018); the paper's StarGAN has no such term.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gantl.config import StarGanConfig
from gantl.methods.gan_losses import gradient_penalty, wgan_d_loss, wgan_g_loss
from gantl.models.stargan_nets import StarDiscriminator, StarGenerator
from gantl.runtime import resolve_device, seed_everything
from gantl.training.batches import balanced_batches
from gantl.training.gan_loop import EpochLoop
from gantl.training.meters import EpochAverage
from gantl.training.schedules import set_lr


def other_domains(c_org: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """A random target domain ≠ c_org for each row (uniform over the k − 1 others)."""
    shift = torch.randint(1, k, (len(c_org),), generator=generator).to(c_org.device)
    return (c_org + shift) % k


def stargan_step(
    G: StarGenerator,
    D: StarDiscriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x: torch.Tensor,
    c_org: torch.Tensor,
    c_trg: torch.Tensor,
    k: int,
    cfg: StarGanConfig,
    update_g: bool,
    generator: torch.Generator,
    classifier: nn.Module | None = None,
) -> dict[str, float]:
    """Update D; then, if `update_g`, update G (with the semantic loss when `classifier`)."""
    # 1. prepare labels
    onehot_org, onehot_trg = F.one_hot(c_org, k).float(), F.one_hot(c_trg, k).float()
    # 2. update D
    src_real, cls_real = D(x)
    x_fake = G(x, onehot_trg).detach()
    src_fake, _ = D(x_fake)
    d_loss_adv = wgan_d_loss(src_real, src_fake)
    d_loss_cls = F.cross_entropy(cls_real, c_org)
    d_loss_gp = gradient_penalty(lambda v: D(v)[0], x, x_fake, generator)
    d_loss = d_loss_adv + cfg.lambda_cls * d_loss_cls + cfg.lambda_gp * d_loss_gp
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    logs = {"d_adv": d_loss_adv.item(), "d_cls": d_loss_cls.item(), "d_gp": d_loss_gp.item()}
    # 3. update G
    if update_g:
        D.requires_grad_(False)
        x_fake = G(x, onehot_trg)
        src_fake, cls_fake = D(x_fake)
        g_loss_adv = wgan_g_loss(src_fake)
        g_loss_cls = F.cross_entropy(cls_fake, c_trg)
        g_loss_rec = F.l1_loss(G(x_fake, onehot_org), x)
        g_loss = g_loss_adv + cfg.lambda_cls * g_loss_cls + cfg.lambda_rec * g_loss_rec
        if classifier is not None and cfg.lambda_semantic > 0:
            with torch.no_grad():
                p_org = classifier(x).argmax(1)
            g_loss_sem = F.cross_entropy(classifier(x_fake), p_org)
            g_loss = g_loss + cfg.lambda_semantic * g_loss_sem
            logs["g_sem"] = g_loss_sem.item()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        logs |= {"g_adv": g_loss_adv.item(), "g_cls": g_loss_cls.item(), "g_rec": g_loss_rec.item()}
    # 4. log
    return logs


@dataclass(frozen=True)
class StarGanResult:
    G: StarGenerator  # on CPU, eval mode
    D: StarDiscriminator  # its D_cls head is the test of "did G produce the requested domain"
    history: list[dict]
    resumed_from: int
    device: str
    seconds: float
    best_epoch: int  # the epoch whose G this is (the last one without a score)


def train_stargan(
    domains: Sequence[torch.Tensor],
    cfg: StarGanConfig,
    seed: int = 0,
    state_dir: Path | None = None,
    run_id: str = "",
    on_step: Callable[[], None] | None = None,
    on_epoch: Callable[[int, StarGenerator], dict[str, float]] | None = None,
    budget_minutes: float | None = None,
    score: Callable[[dict], float] | None = None,
    classifier: nn.Module | None = None,
) -> StarGanResult:
    """Train one G over `domains` (each N_i×C×H×W in [−1, 1]; domain i has label i).

    Resume, `budget_minutes` and `score` work as for `train_cyclegan` (resume: same config,
    seed, data shapes and `run_id`); `classifier` is the frozen source classifier f of the
    semantic loss (`lambda_semantic`).
    """
    k = len(domains)
    if k < 2:
        raise ValueError(f"StarGAN needs at least 2 domains, got {k}")
    shapes = {tuple(x.shape[1:]) for x in domains}
    if len(shapes) != 1:
        raise ValueError(f"domains differ in shape: {sorted(shapes)}")
    channels, size = domains[0].shape[1], domains[0].shape[-1]
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    device = resolve_device(cfg.device)
    G = StarGenerator(channels, k, cfg.g_conv_dim, cfg.g_blocks).to(device)
    if classifier is not None:
        classifier = copy.deepcopy(classifier).to(device).eval().requires_grad_(False)
    D = StarDiscriminator(channels, size, k, cfg.d_conv_dim, cfg.d_repeat).to(device)
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr_g, (cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), cfg.lr_d, (cfg.beta1, cfg.beta2))
    loop = EpochLoop.build(
        "stargan",
        cfg,
        (seed, run_id, [list(x.shape) for x in domains]),
        modules={"G": G, "D": D},
        optimizers={"G": opt_g, "D": opt_d},
        generator=generator,
        keep={"G": G},
        state_dir=state_dir,
        budget_minutes=budget_minutes,
        score=score,
    )
    labels = torch.arange(k).repeat_interleave(cfg.batch_size)
    step = 0  # D updates so far: G updates every n_critic of them

    def train_epoch(epoch: int, lr_factor: float) -> dict[str, float]:
        nonlocal step
        set_lr(opt_g, cfg.lr_g * lr_factor)
        set_lr(opt_d, cfg.lr_d * lr_factor)
        G.train(), D.train()
        meter = EpochAverage()
        for idx in balanced_batches([len(x) for x in domains], cfg.batch_size, generator):
            step += 1
            x = torch.cat([domains[i][j] for i, j in enumerate(idx)]).to(device)
            c_org = labels.to(device)
            c_trg = other_domains(c_org, k, generator)
            update_g = step % cfg.n_critic == 0
            meter.add(
                stargan_step(
                    G, D, opt_g, opt_d, x, c_org, c_trg, k, cfg, update_g, generator, classifier
                )
            )
            if on_step is not None:
                on_step()
        return {"lr_g": cfg.lr_g * lr_factor, **meter.means()}

    def metrics(epoch: int) -> dict[str, float]:
        G.eval()
        return on_epoch(epoch, G) if on_epoch is not None else {}

    def resume_step(tensors: dict[str, torch.Tensor]) -> None:
        nonlocal step
        step = int(tensors["step"])

    outcome = loop.run(
        train_epoch,
        metrics,
        extra_state=lambda: {"step": torch.tensor(step)},
        on_resume=resume_step,
    )
    return StarGanResult(
        G=G.cpu().eval(),
        D=D.cpu().eval(),
        history=outcome.history,
        resumed_from=outcome.resumed_from,
        device=str(device),
        seconds=outcome.seconds,
        best_epoch=loop.best.epoch or outcome.last_epoch,
    )


@torch.no_grad()
def translate_to(G: StarGenerator, x: torch.Tensor, domain: int, k: int, batch_size: int = 256):
    """G(x, one-hot(domain)) in batches on G's device; CPU tensors out."""
    device = next(G.parameters()).device
    G.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        c = F.one_hot(torch.full((len(xb),), domain, device=device), k).float()
        out.append(G(xb, c).cpu())
    return torch.cat(out) if out else x.clone()


def domain_classifier(D: StarDiscriminator) -> Callable[[torch.Tensor], torch.Tensor]:
    """D_cls as a function: images → predicted domain index."""

    @torch.no_grad()
    def classify(x: torch.Tensor) -> torch.Tensor:
        device = next(D.parameters()).device
        return D(x.to(device))[1].argmax(1).cpu()

    return classify
