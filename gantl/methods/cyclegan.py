"""CycleGAN: unpaired image-to-image translation (Zhu et al., ICCV 2017), with CyCADA's semantic
consistency (Hoffman et al., ICML 2018) as an option.

    https://arxiv.org/abs/1703.10593     https://arxiv.org/abs/1711.03213

Code (vs. paper): A = source domain X, B = target domain Y; `G_AB` (G: X → Y), `G_BA` (F: Y → X),
`D_B` (D_Y, judges target-style images), `D_A` (D_X). Losses, with L_GAN least squares by default:

    L_G = L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A)
          + λ_cyc (‖G_BA(G_AB(a)) − a‖₁ + ‖G_AB(G_BA(b)) − b‖₁)                 cycle consistency
          + λ_idt λ_cyc (‖G_AB(b) − b‖₁ + ‖G_BA(a) − a‖₁)                        identity (code)
          + λ_sem (CE(f(G_AB(a)), p_f(a)) + CE(f(G_BA(b)), p_f(b)))              semantic (CyCADA)
    L_D_B = ½ [(D_B(b) − 1)² + D_B(pool(G_AB(a)))²]                                  likewise L_D_A

where f is the frozen source classifier and p_f(x) = argmax f(x) its label for the input image,
so a translated 3 stays a 3. D sees generated images from a history pool of `pool_size`; the
learning rate is constant, then falls linearly over the last `decay_epochs` epochs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gantl.config import CycleGanConfig
from gantl.methods.gan_losses import d_loss, g_loss
from gantl.models.cyclegan_nets import PatchDiscriminator, ResnetGenerator
from gantl.runtime import resolve_device, seed_everything
from gantl.training.batches import paired_batches
from gantl.training.gan_loop import EpochLoop
from gantl.training.meters import EpochAverage
from gantl.training.schedules import set_lr


class ImagePool:
    """Shrivastava et al.'s history buffer: D is shown past fakes half of the time.

    Until full, every new image is stored and returned; afterwards each new image is, with
    probability ½, swapped for a random stored one (which is returned instead).
    """

    def __init__(self, size: int, generator: torch.Generator) -> None:
        self.size, self.generator = size, generator
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return batch.detach()  # D's update must not reach back into G's freed graph
        out = []
        for image in batch.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand(1, generator=self.generator)) < 0.5:
                i = int(torch.randint(len(self.images), (1,), generator=self.generator))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state(self) -> torch.Tensor:
        return torch.stack(self.images).cpu() if self.images else torch.empty(0)

    def load(self, images: torch.Tensor, device: torch.device) -> None:
        self.images = [im.to(device) for im in images] if images.numel() else []


def build_networks(channels: int, cfg: CycleGanConfig) -> dict[str, nn.Module]:
    return {
        "G_AB": ResnetGenerator(channels, channels, cfg.ngf, cfg.n_blocks),
        "G_BA": ResnetGenerator(channels, channels, cfg.ngf, cfg.n_blocks),
        "D_A": PatchDiscriminator(channels, cfg.ndf, cfg.d_layers),
        "D_B": PatchDiscriminator(channels, cfg.ndf, cfg.d_layers),
    }


def cyclegan_step(
    nets: dict[str, nn.Module],
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real_a: torch.Tensor,
    real_b: torch.Tensor,
    pools: tuple[ImagePool, ImagePool],
    cfg: CycleGanConfig,
    classifier: nn.Module | None = None,
) -> dict[str, float]:
    """One update of both generators, then of both discriminators."""
    G_AB, G_BA, D_A, D_B = nets["G_AB"], nets["G_BA"], nets["D_A"], nets["D_B"]
    # 1. translate both ways and back
    fake_b, fake_a = G_AB(real_a), G_BA(real_b)
    rec_a, rec_b = G_BA(fake_b), G_AB(fake_a)
    # 2. update G_AB and G_BA (the discriminators only pass gradients through)
    for d in (D_A, D_B):
        d.requires_grad_(False)
    loss_gan = g_loss(cfg.gan_loss, D_B(fake_b)) + g_loss(cfg.gan_loss, D_A(fake_a))
    loss_cycle = F.l1_loss(rec_a, real_a) + F.l1_loss(rec_b, real_b)
    loss_idt = torch.zeros((), device=real_a.device)
    if cfg.lambda_identity > 0:
        loss_idt = F.l1_loss(G_AB(real_b), real_b) + F.l1_loss(G_BA(real_a), real_a)
    loss_sem = torch.zeros((), device=real_a.device)
    if cfg.lambda_semantic > 0 and classifier is not None:
        with torch.no_grad():
            p_a, p_b = classifier(real_a).argmax(1), classifier(real_b).argmax(1)
        loss_sem = F.cross_entropy(classifier(fake_b), p_a) + F.cross_entropy(
            classifier(fake_a), p_b
        )
    loss_g = (
        loss_gan
        + cfg.lambda_cycle * loss_cycle
        + cfg.lambda_identity * cfg.lambda_cycle * loss_idt
        + cfg.lambda_semantic * loss_sem
    )
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    # 3. update D_A and D_B on real images and (pooled) fakes
    for d in (D_A, D_B):
        d.requires_grad_(True)
    pool_a, pool_b = pools
    old_b, old_a = pool_b.query(fake_b), pool_a.query(fake_a)
    loss_d_b = d_loss(cfg.gan_loss, D_B(real_b), D_B(old_b))
    loss_d_a = d_loss(cfg.gan_loss, D_A(real_a), D_A(old_a))
    opt_d.zero_grad(set_to_none=True)
    (loss_d_a + loss_d_b).backward()
    opt_d.step()
    # 4. log
    return {
        "g_gan": loss_gan.item(),
        "cycle": loss_cycle.item(),
        "identity": loss_idt.item(),
        "semantic": loss_sem.item(),
        "d_a": loss_d_a.item(),
        "d_b": loss_d_b.item(),
    }


@dataclass(frozen=True)
class CycleGanResult:
    G_AB: ResnetGenerator  # source → target style, on CPU, eval mode
    G_BA: ResnetGenerator
    history: list[dict]  # per epoch: mean losses, lr, seconds and whatever on_epoch returned
    resumed_from: int  # last epoch of the state the run continued from (0: a fresh start)
    device: str
    seconds: float
    best_epoch: int  # the epoch whose generators these are (the last one without a score)


def train_cyclegan(
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    cfg: CycleGanConfig,
    seed: int = 0,
    classifier: nn.Module | None = None,
    state_dir: Path | None = None,
    run_id: str = "",
    on_step: Callable[[], None] | None = None,
    on_epoch: Callable[[int, nn.Module, nn.Module], dict[str, float]] | None = None,
    budget_minutes: float | None = None,
    score: Callable[[dict], float] | None = None,
) -> CycleGanResult:
    """Train on unpaired images x_a (source) and x_b (target), N×C×H×W in [−1, 1].

    With `state_dir`, the full training state is written there every `checkpoint_every` epochs,
    and a later call with the same config, seed, data and `run_id` continues from it: on CPU the
    result is bit-identical to an uninterrupted run. `on_epoch(epoch, G_AB, G_BA)` may return extra
    per-epoch metrics (e.g. FID); they choose weights only through `score`. With
    `budget_minutes` the epochs and their lr decay shrink to fit that time (`TimeBudget`).
    With `score` (of an epoch's history record, higher is better) the generators returned are
    those of the best-scoring epoch (`best_epoch`), not the last one's.
    """
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    device = resolve_device(cfg.device)
    if x_a.shape[1:] != x_b.shape[1:]:
        raise ValueError(
            f"domains differ in shape: {tuple(x_a.shape[1:])} vs {tuple(x_b.shape[1:])}"
        )
    nets = {k: v.to(device) for k, v in build_networks(x_a.shape[1], cfg).items()}
    betas = (cfg.beta1, cfg.beta2)
    opt_g = torch.optim.Adam(
        [*nets["G_AB"].parameters(), *nets["G_BA"].parameters()], cfg.lr, betas
    )
    opt_d = torch.optim.Adam([*nets["D_A"].parameters(), *nets["D_B"].parameters()], cfg.lr, betas)
    if classifier is not None:
        classifier = copy.deepcopy(classifier).to(device).eval().requires_grad_(False)
    pools = (ImagePool(cfg.pool_size, generator), ImagePool(cfg.pool_size, generator))
    loop = EpochLoop.build(
        "cyclegan",
        cfg,
        (seed, run_id, list(x_a.shape), list(x_b.shape)),
        modules=nets,
        optimizers={"G": opt_g, "D": opt_d},
        generator=generator,
        keep={"G_AB": nets["G_AB"], "G_BA": nets["G_BA"]},
        state_dir=state_dir,
        budget_minutes=budget_minutes,
        score=score,
    )

    def train_epoch(epoch: int, lr_factor: float) -> dict[str, float]:
        lr = cfg.lr * lr_factor
        set_lr(opt_g, lr)
        set_lr(opt_d, lr)
        for net in nets.values():
            net.train()
        meter = EpochAverage()
        for idx_a, idx_b in paired_batches(len(x_a), len(x_b), cfg.batch_size, generator):
            real_a, real_b = x_a[idx_a].to(device), x_b[idx_b].to(device)
            meter.add(cyclegan_step(nets, opt_g, opt_d, real_a, real_b, pools, cfg, classifier))
            if on_step is not None:
                on_step()
        return {"lr": lr, **meter.means()}

    def metrics(epoch: int) -> dict[str, float]:
        nets["G_AB"].eval(), nets["G_BA"].eval()
        return on_epoch(epoch, nets["G_AB"], nets["G_BA"]) if on_epoch is not None else {}

    def resume_pools(tensors: dict[str, torch.Tensor]) -> None:
        pools[0].load(tensors["pool_a"], device)
        pools[1].load(tensors["pool_b"], device)

    outcome = loop.run(
        train_epoch,
        metrics,
        extra_state=lambda: {"pool_a": pools[0].state(), "pool_b": pools[1].state()},
        on_resume=resume_pools,
    )
    return CycleGanResult(
        G_AB=nets["G_AB"].cpu().eval(),
        G_BA=nets["G_BA"].cpu().eval(),
        history=outcome.history,
        resumed_from=outcome.resumed_from,
        device=str(device),
        seconds=outcome.seconds,
        best_epoch=loop.best.epoch or outcome.last_epoch,
    )


@torch.no_grad()
def translate(generator: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """generator(x) in batches, on the generator's device; returns CPU tensors."""
    device = next(generator.parameters()).device
    generator.eval()
    out = [generator(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else x.clone()
