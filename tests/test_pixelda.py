"""PixelDA: the content-similarity loss by hand, one step against its equations, learning the
target style, and exact resume."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gantl.config import PixelDaConfig
from gantl.methods.pixelda import (
    pixelda_step,
    pmse,
    sample_noise,
    train_pixelda,
    translate,
    update_average,
)
from tests.conftest import two_domains

TINY = PixelDaConfig(
    epochs=12,
    decay_epochs=2,
    batch_size=8,
    lr=1e-3,
    ngf=8,
    n_blocks=1,
    ndf=8,
    d_layers=1,
    lambda_task=0.5,
    ema=0.9,
    device="cpu",
)


def test_pmse_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    y = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]]]])
    # d = (1, 2, 3, 4): (1/k)‖d‖² − (1/k²)(d·1)² = 30/4 − 100/16 = 1.25
    assert float(pmse(x, y)) == pytest.approx(1.25)
    assert float(pmse(x, x + 0.7)) == pytest.approx(0.0, abs=1e-6)  # a uniform shift is free
    batch = torch.cat([x, x + 0.7])
    assert float(pmse(batch, torch.cat([y, x]))) == pytest.approx(1.25 / 2)


def test_update_average_by_hand():
    live, average = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    with torch.no_grad():
        live.weight.copy_(torch.tensor([3.0, -1.0]))
        average.weight.copy_(torch.tensor([1.0, 1.0]))
        live.running_mean.copy_(torch.tensor([0.5, 0.25]))
    update_average(average, live, ema=0.75)
    assert average.weight.tolist() == [1.5, 0.5]  # 0.75 · 1 + 0.25 · live
    assert average.running_mean.tolist() == [0.5, 0.25]  # buffers are copied


class NoiseGen(nn.Module):
    """G(x, z) = tanh(w x + v·z̄ + b) pixelwise: the smallest noise-conditioned generator."""

    def __init__(self) -> None:
        super().__init__()
        self.w, self.v, self.b = (nn.Parameter(torch.tensor(t)) for t in (0.8, 0.3, 0.1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.w * x + self.v * z.mean(1).view(-1, 1, 1, 1) + self.b)


class PatchD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Task(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_pixelda_step_is_one_update_of_g_and_t_then_one_of_d():
    """L_{G,T} = α (D(G(x,z)) − 1)² + β ½[CE(T(G(x,z)), y) + CE(T(x), y)] + γ PMSE(G(x,z), x);
    (G, T) ← (G, T) − lr ∂L/∂(G, T) with D fixed; then
    L_D = ½[(D(x_t) − 1)² + D(G(x,z))²] with the fakes of the pre-step G, D ← D − lr ∂L_D/∂D."""
    torch.manual_seed(0)
    nets = {"G": NoiseGen(), "D": PatchD(), "T": Task()}
    cfg = PixelDaConfig(lambda_adv=0.7, lambda_task=0.4, lambda_content=0.9, gan_loss="lsgan")
    x_s, x_t = torch.randn(4, 1, 2, 2).tanh(), torch.randn(4, 1, 2, 2).tanh()
    y_s, z = torch.tensor([0, 1, 2, 1]), sample_noise(4, 3, torch.Generator().manual_seed(1))
    ref = {k: {n: p.detach().clone() for n, p in v.named_parameters()} for k, v in nets.items()}

    def fake_of(g):
        return torch.tanh(g["w"] * x_s + g["v"] * z.mean(1).view(-1, 1, 1, 1) + g["b"])

    def d_of(d, x):
        return F.conv2d(x, d["conv.weight"], d["conv.bias"])

    def t_of(t, x):
        return F.linear(x.flatten(1), t["fc.weight"], t["fc.bias"])

    g = {n: p.clone().requires_grad_(True) for n, p in ref["G"].items()}
    t = {n: p.clone().requires_grad_(True) for n, p in ref["T"].items()}
    fake = fake_of(g)
    task = 0.5 * (F.cross_entropy(t_of(t, fake), y_s) + F.cross_entropy(t_of(t, x_s), y_s))
    d_ = (fake - x_s).flatten(1)
    content = (d_.pow(2).mean(1) - d_.mean(1).pow(2)).mean()
    adv = (d_of(ref["D"], fake) - 1).pow(2).mean()
    total = 0.7 * adv + 0.4 * task + 0.9 * content
    grads = torch.autograd.grad(total, [*g.values(), *t.values()])
    lr = 0.05
    new_g = {n: p - lr * gr for (n, p), gr in zip(g.items(), grads[:3], strict=True)}
    new_t = {n: p - lr * gr for (n, p), gr in zip(t.items(), grads[3:], strict=True)}
    d = {n: p.clone().requires_grad_(True) for n, p in ref["D"].items()}
    fake0 = fake.detach()
    loss_d = 0.5 * ((d_of(d, x_t) - 1).pow(2).mean() + d_of(d, fake0).pow(2).mean())
    new_d = {
        n: p - lr * gr
        for (n, p), gr in zip(d.items(), torch.autograd.grad(loss_d, [*d.values()]), strict=True)
    }

    opt_g = torch.optim.SGD([*nets["G"].parameters(), *nets["T"].parameters()], lr)
    opt_d = torch.optim.SGD(nets["D"].parameters(), lr)
    logs = pixelda_step(nets, opt_g, opt_d, x_s, y_s, x_t, z, cfg)
    assert logs["g_adv"] == pytest.approx(adv.item(), rel=1e-5)
    assert logs["task"] == pytest.approx(task.item(), rel=1e-5)
    assert logs["content"] == pytest.approx(content.item(), rel=1e-5)
    assert logs["d"] == pytest.approx(loss_d.item(), rel=1e-5)
    for name, expected in (("G", new_g), ("T", new_t), ("D", new_d)):
        for n, p in nets[name].named_parameters():
            assert torch.allclose(p, expected[n], atol=1e-6), (name, n)


def test_diversity_term_by_hand_rewards_noise_that_matters():
    """L_div = 1 / (mean|G(x, z) − G(x, z')| / mean|z − z'| + ε) on the first len(z') images;
    a step on it alone makes G's output depend more on z (|v| grows)."""
    torch.manual_seed(0)
    nets = {"G": NoiseGen(), "D": PatchD(), "T": Task()}
    cfg = PixelDaConfig(lambda_adv=0.0, lambda_task=0.0, lambda_diversity=1.0)
    x_s, x_t = torch.randn(4, 1, 2, 2).tanh(), torch.randn(4, 1, 2, 2).tanh()
    noise = torch.Generator().manual_seed(1)
    z, z2 = sample_noise(4, 3, noise), sample_noise(2, 3, noise)
    w, v, b = 0.8, 0.3, 0.1
    fake = torch.tanh(w * x_s[:2] + v * z[:2].mean(1).view(-1, 1, 1, 1) + b)
    fake2 = torch.tanh(w * x_s[:2] + v * z2.mean(1).view(-1, 1, 1, 1) + b)
    ratio = (fake - fake2).abs().mean() / (z[:2] - z2).abs().mean()
    opt_g = torch.optim.SGD([*nets["G"].parameters(), *nets["T"].parameters()], 0.01)
    opt_d = torch.optim.SGD(nets["D"].parameters(), 0.01)
    logs = pixelda_step(nets, opt_g, opt_d, x_s, torch.tensor([0, 1, 2, 1]), x_t, z, cfg, z2)
    assert logs["diversity"] == pytest.approx(1 / (float(ratio) + 1e-5), rel=1e-5)
    assert abs(nets["G"].v.item()) > v
    with pytest.raises(ValueError, match="z2"):
        pixelda_step(nets, opt_g, opt_d, x_s, torch.tensor([0, 1, 2, 1]), x_t, z, cfg)


def _square_labels(x: torch.Tensor) -> torch.Tensor:
    """Which half of the image a square sits in: 0 top, 1 bottom (`two_domains`'s squares)."""
    rows = (x[:, 0] > 0).float().sum(2)  # N×H: lit pixels per row
    centre = (rows * torch.arange(x.shape[2])).sum(1) / rows.sum(1)
    return (centre >= x.shape[2] / 2).long()


def test_generator_learns_the_target_style_and_keeps_the_task():
    a, b = two_domains(48)
    y = _square_labels(a)
    task = nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 2))
    result = train_pixelda(a, y, b, TINY, task, seed=0)
    fake = translate(result.G, a, seed=0)
    assert fake.shape == a.shape and fake.mean() > 0  # B is mostly bright, A mostly dark
    assert len(result.history) == TINY.epochs and result.best_epoch == TINY.epochs
    again = translate(result.G, a, seed=0)
    assert torch.equal(fake, again)  # the noise is drawn from the seed
    assert not torch.equal(fake, translate(result.G, a, seed=1))  # and matters


def test_resume_equals_uninterrupted(tmp_path):
    a, b = two_domains(16)
    y = _square_labels(a)
    cfg = TINY.model_copy(update={"epochs": 3, "decay_epochs": 1})
    task = nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 2))
    whole = train_pixelda(a, y, b, cfg, task, seed=3, state_dir=tmp_path / "whole")
    calls = {"n": 0}

    def crash() -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # 2 steps per epoch: the first step of epoch 3
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_pixelda(a, y, b, cfg, task, seed=3, state_dir=tmp_path / "cut", on_step=crash)
    resumed = train_pixelda(a, y, b, cfg, task, seed=3, state_dir=tmp_path / "cut")
    assert resumed.resumed_from == 2
    for key, value in whole.G.state_dict().items():
        assert torch.equal(value, resumed.G.state_dict()[key]), key
