"""GAN losses against values computed by hand from their formulas."""

from __future__ import annotations

import math

import pytest
import torch

from gantl.methods import gan_losses as L

REAL = torch.tensor([2.0, 0.0])  # D's logits on real images
FAKE = torch.tensor([-1.0, 1.0])  # D's logits on generated images


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_bce_discriminator_loss_is_minus_log_likelihood():
    expected = (
        -(math.log(sigmoid(2)) + math.log(sigmoid(0))) / 2
        - (math.log(1 - sigmoid(-1)) + math.log(1 - sigmoid(1))) / 2
    )
    assert float(L.bce_d_loss(REAL, FAKE)) == pytest.approx(expected, rel=1e-6)


def test_minimax_and_nonsaturating_generator_losses():
    minimax = (math.log(1 - sigmoid(-1)) + math.log(1 - sigmoid(1))) / 2
    nonsat = -(math.log(sigmoid(-1)) + math.log(sigmoid(1))) / 2
    assert float(L.minimax_g_loss(FAKE)) == pytest.approx(minimax, rel=1e-6)
    assert float(L.nonsaturating_g_loss(FAKE)) == pytest.approx(nonsat, rel=1e-6)
    # The value of the game is the negative of D's loss on the same scores.
    game = float(-L.bce_d_loss(REAL, FAKE))
    assert game == pytest.approx(
        (math.log(sigmoid(2)) + math.log(sigmoid(0))) / 2 + minimax, rel=1e-6
    )


def test_lsgan_losses():
    assert float(L.lsgan_d_loss(REAL, FAKE)) == pytest.approx(0.5 * (1 + 1) / 2 + 0.5 * (1 + 1) / 2)
    assert float(L.lsgan_g_loss(FAKE)) == pytest.approx((4 + 0) / 2)


def test_wgan_losses():
    assert float(L.wgan_d_loss(REAL, FAKE)) == pytest.approx(0.0 - 1.0)
    assert float(L.wgan_g_loss(FAKE)) == pytest.approx(0.0)


def test_dispatch_by_name():
    for kind in ("bce", "lsgan", "wgan"):
        assert torch.equal(L.d_loss(kind, REAL, FAKE), getattr(L, f"{kind}_d_loss")(REAL, FAKE))
    assert torch.equal(L.g_loss("bce", FAKE), L.nonsaturating_g_loss(FAKE))


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = w·x has ∇D = w everywhere, so the penalty is (‖w‖ − 1)² whatever ε is.
    w = torch.tensor([3.0, 4.0])
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    gp = L.gradient_penalty(lambda x: x @ w, real, fake, torch.Generator().manual_seed(0))
    assert float(gp) == pytest.approx((5 - 1) ** 2)
    # D(x) = ½‖x‖² has ∇D = x̂: the penalty depends on where x̂ lands, and gradients reach D.
    scale = torch.tensor(1.0, requires_grad=True)
    real, fake = torch.ones(1, 2), torch.zeros(1, 2)
    g = torch.Generator().manual_seed(0)
    eps = float(torch.rand(1, 1, generator=torch.Generator().manual_seed(0)))
    gp = L.gradient_penalty(lambda x: 0.5 * scale * x.pow(2).sum(1), real, fake, g)
    assert float(gp.detach()) == pytest.approx((eps * math.sqrt(2) - 1) ** 2, rel=1e-5)
    gp.backward()
    assert scale.grad is not None


def test_weighted_domain_loss_normalises_weights_within_each_domain():
    """½ [Σ w_s BCE(d_s, 1) / Σ w_s + Σ w_t BCE(d_t, 0) / Σ w_t]; equal weights: domain_loss."""
    w_s, w_t = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])
    expected = 0.5 * (
        -(1 * math.log(sigmoid(2)) + 3 * math.log(sigmoid(0))) / 4
        - (2 * math.log(1 - sigmoid(-1)) + 2 * math.log(1 - sigmoid(1))) / 4
    )
    assert float(L.weighted_domain_loss(REAL, FAKE, w_s, w_t)) == pytest.approx(expected, rel=1e-6)
    ones = torch.ones(2)
    assert float(L.weighted_domain_loss(REAL, FAKE, 5 * ones, ones)) == pytest.approx(
        float(L.domain_loss(REAL, FAKE)), rel=1e-6
    )
    # the normalising sums are constants: ∂/∂w_i = ½ BCE_i / Σ w over w_i's domain
    w = w_s.clone().requires_grad_(True)
    L.weighted_domain_loss(REAL, FAKE, w, w_t).backward()
    expected_grad = -0.5 * torch.tensor([math.log(sigmoid(2)), math.log(sigmoid(0))]) / 4
    torch.testing.assert_close(w.grad, expected_grad)
