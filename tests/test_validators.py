"""Validators and the proxy A-distance on constructed cases whose right answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gantl.eval.validators import (
    VALIDATORS,
    ValidationInputs,
    bnm,
    class_ami,
    dev_risk,
    im,
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
    for epoch, (v_im, v_bnm, v_ami) in zip(
        epochs, [(0.1, 0.2, 0.3), (1.5, 0.1, 0.9), (0.7, 0.4, 0.2)], strict=True
    ):
        epoch.update(im=v_im, bnm=v_bnm, class_ami=v_ami)
    expected = {"source_val_acc": 1, "neg_entropy": 2, "snd": 0, "iwv": 1, "dev": 1}
    expected |= {"im": 1, "bnm": 2, "class_ami": 1}
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


def _np_entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(p)).sum(-1)


def test_im_hand_computed_three_points():
    # Rows p = (3/4, 1/4), (1/2, 1/2), (1/5, 4/5): logits are log-probabilities.
    p = np.array([[0.75, 0.25], [0.5, 0.5], [0.2, 0.8]])
    p_bar = p.mean(0)  # (1.45 / 3, 1.55 / 3)
    expected = _np_entropy(p_bar) - _np_entropy(p).mean()
    assert im(torch.tensor(np.log(p))) == pytest.approx(expected, abs=1e-12)
    # H(p̄) = 0.6926; H(p_i) = 0.5623, 0.6931, 0.5004 with mean 0.5853 → IM = 0.1073 nats.
    assert expected == pytest.approx(0.1073, abs=1e-4)
    # Shifting a row's logits by a constant leaves its softmax, hence IM, unchanged.
    assert im(torch.tensor(np.log(p) + 3.0)) == pytest.approx(expected, abs=1e-12)


def test_im_bounds():
    k = 5
    balanced = 30.0 * torch.eye(k).repeat(4, 1)  # confident, every class equally often
    assert im(balanced) == pytest.approx(math.log(k), abs=1e-6)  # the maximum, log K
    identical = torch.randn(1, k, generator=torch.Generator().manual_seed(0)).repeat(10, 1)
    assert im(identical) == pytest.approx(0.0, abs=1e-12)  # p̄ = p_i for every i
    assert im(torch.randn(50, k, generator=torch.Generator().manual_seed(0))) >= 0.0


def test_bnm_hand_computed_three_points():
    p = np.array([[0.75, 0.25], [0.5, 0.5], [0.2, 0.8]])
    # Singular values of P are √λ for the eigenvalues λ of the 2 × 2 Gram matrix G = PᵀP:
    # λ = (tr G ± √(tr² G − 4 det G)) / 2.
    g = p.T @ p
    tr, det = np.trace(g), np.linalg.det(g)
    lam = np.array([tr + math.sqrt(tr**2 - 4 * det), tr - math.sqrt(tr**2 - 4 * det)]) / 2
    expected = np.sqrt(lam).sum() / 3
    assert bnm(torch.tensor(np.log(p))) == pytest.approx(expected, abs=1e-12)
    # G = [[0.8525, 0.5975], [0.5975, 0.9525]]: λ = 1.5021, 0.3029, σ = 1.2256, 0.5504.
    assert expected == pytest.approx(1.7760 / 3, abs=1e-4)


def test_bnm_one_hot_balanced_and_collapsed():
    k, n = 4, 40
    balanced = 40.0 * torch.eye(k)[torch.arange(n) % k]
    collapsed = 40.0 * torch.eye(k)[torch.zeros(n, dtype=torch.long)]
    assert bnm(balanced) == pytest.approx(math.sqrt(k / n), abs=1e-9)  # K singular values √(N/K)
    assert bnm(collapsed) == pytest.approx(1 / math.sqrt(n), abs=1e-9)  # rank 1, σ = √N


def _clustered_features(k: int, per: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`per` points around each of k well-separated centres in 32 dims, and their cluster ids."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(k * per) % k
    centres = 10.0 * torch.randn(k, 32, generator=g)
    return centres[y] + 0.5 * torch.randn(k * per, 32, generator=g), y


def test_class_ami_matching_clusters_and_shuffled_predictions():
    k = 5
    feats, y = _clustered_features(k, 60)
    matching = 10.0 * torch.eye(k)[(y + 2) % k]  # cluster ids relabelled: AMI ignores names
    assert class_ami(matching, feats, seed=0) == pytest.approx(1.0, abs=1e-9)
    shuffled = matching[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    assert abs(class_ami(shuffled, feats, seed=0)) < 0.05
    assert class_ami(shuffled, feats, seed=3) == class_ami(shuffled, feats, seed=3)


def test_class_ami_constant_predictions_score_zero():
    feats, _ = _clustered_features(3, 10)
    constant = torch.tensor([5.0, 0.0, 0.0]).repeat(30, 1)
    assert class_ami(constant, feats) == 0.0
    # A dead encoder (identical features) with constant predictions: sklearn's AMI of two
    # constant labellings is 1, but a constant prediction carries no information.
    assert class_ami(constant, torch.ones(30, 8)) == 0.0
    # Fewer points than classes: k-means asks for at most N clusters.
    assert class_ami(torch.eye(4)[:2] * 5.0, torch.eye(8)[:2]) == pytest.approx(1.0)


def test_collapse_fools_neg_entropy_but_not_im_bnm_class_ami():
    """ADDA's failure: every target point put in one class, very confidently.

    neg_entropy only asks that each prediction be confident, which a collapsed model satisfies
    as well as (here: better than) a good one, so it ranks the collapse at least as high. IM,
    BNM and ClassAMI also ask that predictions be spread over the classes (H(p̄), the rank of
    P, the agreement with the features' K clusters) and rank it strictly lower.
    """
    k, per = 4, 50
    feats, y = _clustered_features(k, per)  # the same target images for both models
    good = 6.0 * torch.eye(k)[y]  # confident and class-balanced, agreeing with the clusters
    collapsed = 12.0 * torch.eye(k)[torch.zeros(k * per, dtype=torch.long)]
    assert neg_entropy(collapsed) >= neg_entropy(good)
    assert im(collapsed) < im(good)
    assert im(collapsed) == pytest.approx(0.0, abs=1e-12)
    assert bnm(collapsed) < bnm(good)
    assert class_ami(collapsed, feats) < class_ami(good, feats)
    assert class_ami(collapsed, feats) == 0.0
