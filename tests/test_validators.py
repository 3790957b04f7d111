"""Validators and the proxy A-distance on constructed cases whose right answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gantl.eval.validators import (
    VALIDATORS,
    ValidationInputs,
    dev_risk,
    importance_weights,
    iwv_risk,
    neg_entropy,
    proxy_a_distance,
    score_all,
    select,
    snd,
    source_val_accuracy,
)


def _entropy(p: list[float]) -> float:
    return -sum(q * math.log(q) for q in p if q > 0)


def test_source_val_accuracy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    assert source_val_accuracy(logits, torch.tensor([0, 1, 1, 1])) == pytest.approx(0.75)


def test_neg_entropy_prefers_confident_and_uniform_is_minus_log_k():
    k = 10
    uniform = torch.zeros(50, k)
    confident = 20.0 * torch.eye(k).repeat(5, 1)
    assert neg_entropy(uniform) == pytest.approx(-math.log(k), abs=1e-9)
    assert neg_entropy(confident) > neg_entropy(uniform)
    assert neg_entropy(confident) == pytest.approx(0.0, abs=1e-6)


def test_snd_hand_computed_three_points():
    # p̂ ≈ e1, e1, e2. With τ = 1: rows 1, 2 see similarities (1, 0) → softmax (σ(1), 1 − σ(1));
    # row 3 sees (0, 0) → (½, ½), entropy log 2.
    logits = torch.tensor([[30.0, 0.0], [30.0, 0.0], [0.0, 30.0]])
    s1 = 1 / (1 + math.exp(-1))
    expected = (2 * _entropy([s1, 1 - s1]) + math.log(2)) / 3
    assert snd(logits, temperature=1.0) == pytest.approx(expected, abs=1e-6)


def test_snd_matches_naive_loop_and_chunking():
    logits = torch.randn(7, 4, generator=torch.Generator().manual_seed(0))
    tau = 0.3
    p = torch.softmax(logits.double(), 1)
    p_hat = (p / p.norm(dim=1, keepdim=True)).tolist()
    ref = 0.0
    for i in range(7):
        sims = [sum(a * b for a, b in zip(p_hat[i], p_hat[j], strict=True)) / tau for j in range(7)]
        z = sum(math.exp(sims[j]) for j in range(7) if j != i)
        ref += _entropy([math.exp(sims[j]) / z for j in range(7) if j != i]) / 7
    assert snd(logits, temperature=tau) == pytest.approx(ref, abs=1e-5)
    assert snd(logits, temperature=tau, chunk_size=2) == pytest.approx(ref, abs=1e-5)


def test_snd_prefers_tight_confident_clusters_over_random_softmax():
    g = torch.Generator().manual_seed(0)
    k, n = 5, 300
    clustered = 8.0 * torch.eye(k)[torch.arange(n) % k] + 0.3 * torch.randn(n, k, generator=g)
    exp = -torch.rand(n, k, generator=g).log()  # normalised Exp(1) draws: uniform on the simplex
    random_p = exp / exp.sum(1, keepdim=True)
    # Each clustered point spreads P evenly over its n/k − 1 same-class neighbours.
    assert snd(clustered) == pytest.approx(math.log(n // k - 1), abs=1e-4)
    assert snd(clustered) > snd(random_p.log())
    with pytest.raises(ValueError):
        snd(torch.zeros(1, 3))


def test_importance_weights_recover_gaussian_shift():
    # p_s = N(0, 1), p_t = N(1, 1) in x; a second, unshifted dummy dim. True w(x) = exp(x − ½).
    rng = np.random.default_rng(0)
    f_s_train = rng.normal(size=(3000, 2))
    f_t = rng.normal(size=(2000, 2)) + np.array([1.0, 0.0])
    grid = np.stack([np.linspace(-2, 2, 41), np.zeros(41)], axis=1)
    w = importance_weights(f_s_train, f_t, grid, seed=0)
    assert np.corrcoef(w, np.exp(grid[:, 0] - 0.5))[0, 1] > 0.95
    w_val = importance_weights(f_s_train, f_t, rng.normal(size=(2000, 2)), seed=0)
    assert abs(w_val.mean() - 1.0) < 0.2  # E_s[p_t / p_s] = 1
    assert np.array_equal(w, importance_weights(f_s_train, f_t, grid, seed=0))


def test_iwv_and_dev_risks():
    losses = np.array([1.0, 0.0, 2.0, 1.0])
    assert iwv_risk(losses, np.ones(4)) == pytest.approx(losses.mean())
    const = np.full(4, 0.1)
    assert dev_risk(losses, const) == pytest.approx(iwv_risk(losses, const))
    # w = (1, 1, 2, 2): L = (1, 0, 4, 2), mean L = 1.75, mean w = 1.5, Var(w) = 1/3,
    # Cov(L, w) = 2.5/3 → η = −2.5, R_DEV = 1.75 − 2.5 · 1.5 + 2.5 = 0.5.
    w = np.array([1.0, 1.0, 2.0, 2.0])
    assert iwv_risk(losses, w) == pytest.approx(1.75)
    assert dev_risk(losses, w) == pytest.approx(0.5)


def test_score_all_and_select():
    g = torch.Generator().manual_seed(0)
    inputs = ValidationInputs(
        logits_s_val=torch.randn(40, 3, generator=g),
        y_s_val=torch.randint(0, 3, (40,), generator=g),
        logits_t=torch.randn(60, 3, generator=g),
        features_s_train=torch.randn(80, 4, generator=g),
        features_s_val=torch.randn(40, 4, generator=g),
        features_t=torch.randn(60, 4, generator=g) + 0.5,
    )
    scores = score_all(inputs, seed=0)
    assert set(scores) == set(VALIDATORS)
    assert all(math.isfinite(v) for v in scores.values())
    assert scores == score_all(inputs, seed=0)

    epochs = [
        {"source_val_acc": 0.5, "neg_entropy": -1.0, "snd": 3.0, "iwv": -0.9, "dev": -2.0},
        {"source_val_acc": 0.9, "neg_entropy": -2.0, "snd": 3.0, "iwv": -0.8, "dev": -1.0},
        {"source_val_acc": 0.9, "neg_entropy": -0.5, "snd": 2.0, "iwv": float("nan"), "dev": -1.5},
    ]
    expected = {"source_val_acc": 1, "neg_entropy": 2, "snd": 0, "iwv": 1, "dev": 1}
    assert {v: select(epochs, v) for v in VALIDATORS} == expected
    with pytest.raises(ValueError, match="source_val_acc"):
        select(epochs, "accuracy")


def test_proxy_a_distance_separated_and_identical():
    rng = np.random.default_rng(0)
    f_s = rng.normal(size=(600, 5))
    far = rng.normal(size=(400, 5)) + 6.0
    same = rng.normal(size=(600, 5))
    assert proxy_a_distance(f_s, far, seed=0) > 1.8
    assert abs(proxy_a_distance(f_s, same, seed=0)) < 0.3
    assert proxy_a_distance(f_s, far, seed=1) == proxy_a_distance(f_s, far, seed=1)
