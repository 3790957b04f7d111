"""Unsupervised model selection for domain adaptation, and the proxy A-distance.

Adaptation has to pick an epoch or hyper-parameter without target labels. Each validator maps
a checkpoint's outputs to one float where higher is better, so `select` is a plain argmax:

    source_val_acc  accuracy on labelled source-val (the naive baseline)
    neg_entropy     −mean H(p(y|x_t))                              (Morerio et al., ICLR 2018)
    snd             Soft Neighborhood Density                     (Saito et al., ICCV 2021)
    iwv             −importance-weighted source-val risk          (Sugiyama et al., JMLR 2007)
    dev             −Deep Embedded Validation risk                (You et al., ICML 2019)
    im              H(mean p_i) − mean H(p_i), info. maximization (Liang et al., ICML 2020)
    bnm             ‖P‖_* / N, batch nuclear norm of softmax      (Cui et al., CVPR 2020)
    class_ami       AMI(k-means clusters of f_t, argmax p_t)      (Musgrave et al., arXiv 2022)

Confidence alone is fooled by collapse: a model that puts every target point in one class with
high confidence has near-zero entropy, so neg_entropy rates it highly. im, bnm and class_ami
also reward predictions that are diverse across the target set, and score such a model low.

Shapes: logits (N, K), labels (N,), features (N, D). Everything runs on CPU and is deterministic
given `seed`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_mutual_info_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from torch import Tensor

VALIDATORS: tuple[str, ...] = (
    "source_val_acc",
    "neg_entropy",
    "snd",
    "iwv",
    "dev",
    "im",
    "bnm",
    "class_ami",
)
_EPS_D = 1e-6  # domain-classifier probabilities are clipped to [ε, 1 − ε] before d / (1 − d)


def source_val_accuracy(logits_s: Tensor, y_s: Tensor) -> float:
    """Accuracy of argmax(logits_s) on labelled source-val; NaN when empty."""
    if len(y_s) == 0:
        return float("nan")
    return float((logits_s.argmax(1) == y_s).float().mean())


def neg_entropy(logits_t: Tensor) -> float:
    """−(1/N) Σ_i H(p_i), H(p) = −Σ_k p_k log p_k in nats (Morerio et al. 2018, minimal entropy).

    Confident target predictions score higher; uniform over K classes gives exactly −log K.
    """
    log_p = F.log_softmax(logits_t.double(), dim=1)
    return float((log_p.exp() * log_p).sum(1).mean())


@torch.no_grad()
def snd(logits_t: Tensor, temperature: float = 0.05, *, chunk_size: int = 1024) -> float:
    """Soft Neighborhood Density (Saito et al., ICCV 2021, "Tune it the right way").

    p = softmax(logits), p̂_i = p_i / ‖p_i‖₂, S = p̂ p̂ᵀ with S_ii = −∞ (no self-match),
    P = softmax(S / τ) row-wise, SND = (1/N) Σ_i H(P_i). Higher means each target point has many
    soft neighbours with similar predictions, i.e. dense, well-clustered target predictions.
    Rows are done `chunk_size` at a time, so memory is O(chunk_size · N).
    """
    n = len(logits_t)
    if n < 2:
        raise ValueError(f"snd needs at least 2 target points, got {n}")
    p_hat = F.normalize(F.softmax(logits_t.detach().cpu().float(), dim=1), dim=1)
    total = 0.0
    for start in range(0, n, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, n))
        s = p_hat[rows] @ p_hat.T / temperature
        s[torch.arange(len(rows)), rows] = -math.inf
        p_nbr = F.softmax(s, dim=1)
        # xlogy gives 0 · log 0 = 0 on the masked diagonal.
        total += float(-torch.special.xlogy(p_nbr, p_nbr).sum(1).double().sum())
    return total / n


def im(logits_t: Tensor) -> float:
    """Information maximization H(p̄) − (1/N) Σ_i H(p_i), p̄ = (1/N) Σ_i p_i, in nats.

    The SHOT objective (Liang et al., ICML 2020, "Do we really need to access the source data?"),
    used as a validator by Musgrave et al. (2022, arXiv:2208.07360, "Three new validators and a
    large-scale benchmark ranking for unsupervised domain adaptation"). It is the mutual
    information between a target point and its predicted class, so 0 ≤ IM ≤ log K (H is
    concave): high when each prediction is confident (small H(p_i)) and the predictions are
    spread over the classes (large H(p̄)). Identical predictions for every point, as when a model
    collapses onto one class, give exactly 0.
    """
    log_p = F.log_softmax(logits_t.detach().cpu().double(), dim=1)
    p = log_p.exp()
    p_bar = p.mean(0)
    h_bar = -torch.special.xlogy(p_bar, p_bar).sum()
    return float(h_bar + (p * log_p).sum(1).mean())


def bnm(logits_t: Tensor) -> float:
    """Batch nuclear norm ‖P‖_* / N = (1/N) Σ_j σ_j(P), P = softmax(logits) of shape (N, K).

    Cui et al., CVPR 2020, "Towards Discriminability and Diversity: Batch Nuclear-norm
    Maximization under Label Insufficient Situations"; a validator in Musgrave et al. (2022).
    The nuclear norm grows with both confidence and the rank (class diversity) of P. Normalised by
    N, as in the BNM loss: one-hot predictions balanced over K classes give √(K/N), all in one
    class (rank 1) give 1/√N. The value depends on N, so compare it only on the same target set
    (as model selection does); singular values are computed in float64.
    """
    p = F.softmax(logits_t.detach().cpu().double(), dim=1)
    return float(torch.linalg.svdvals(p).sum() / len(p))


def class_ami(logits_t: Tensor, features_t: Tensor, seed: int = 0, *, n_init: int = 10) -> float:
    """ClassAMI (Musgrave et al. 2022): AMI(k-means(f̂_t, K), argmax_k p_ik).

    f̂_t are the target features scaled to unit L2 norm (so k-means clusters by cosine, the
    `normalize` option of the authors' benchmark); k-means (K = number of classes, `n_init`
    restarts, `random_state=seed`) clusters them, and the adjusted mutual information (Vinh et
    al., JMLR 2010; arithmetic normaliser) measures how well the predicted classes agree with the
    feature space's own clusters: ≈ 1 when they coincide, ≈ 0 for unrelated labellings.
    Predictions in fewer than two classes (collapse) score 0: a constant labelling carries no
    information, even where sklearn would call two constant labellings identical (AMI 1).
    """
    preds = _np(logits_t.argmax(1))
    if len(np.unique(preds)) < 2:
        return 0.0
    x = _np(F.normalize(features_t.detach().cpu().double(), dim=1))
    k = min(logits_t.shape[1], len(x))
    # One thread: the same clusters on any core count, and no OpenMP oversubscription next to
    # torch's threads (on 2 busy cores k-means took ~2.5 s threaded vs ~0.1 s on one thread).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # Duplicate feature rows can leave fewer distinct clusters than K; the AMI still holds.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)
    return float(adjusted_mutual_info_score(preds, clusters))


def _domain_classifier(seed: int) -> Pipeline:
    """Linear source (0) vs target (1) classifier on standardised features."""
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    )


def _balanced(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Subsample the larger of `a`, `b` (rows) to the size of the smaller, without replacement."""
    n = min(len(a), len(b))
    a = a if len(a) == n else a[rng.choice(len(a), n, replace=False)]
    b = b if len(b) == n else b[rng.choice(len(b), n, replace=False)]
    return a, b


def importance_weights(
    f_s_train: np.ndarray, f_t: np.ndarray, f_s_val: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Density ratio w(x) = p_t(x) / p_s(x) at each row of `f_s_val`, from a domain classifier.

    With d(x) = P(target | x) from a classifier fit on n_s source-train and n_t target rows,
    Bayes' rule gives w(x) = d / (1 − d) · n_s / n_t (You et al. 2019). The two sides are
    balanced by subsampling, so n_s / n_t = 1; d is clipped to [1e-6, 1 − 1e-6].
    """
    f_s, f_t = _balanced(np.asarray(f_s_train), np.asarray(f_t), np.random.default_rng(seed))
    x = np.concatenate([f_s, f_t])
    y = np.concatenate([np.zeros(len(f_s)), np.ones(len(f_t))])
    clf = _domain_classifier(seed).fit(x, y)
    d = np.clip(clf.predict_proba(np.asarray(f_s_val))[:, 1], _EPS_D, 1 - _EPS_D)
    return d / (1 - d) * (len(f_s) / len(f_t))


def iwv_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Importance-weighted validation risk (1/n) Σ_i w_i ℓ_i (Sugiyama et al., JMLR 2007)."""
    return float(np.mean(np.asarray(weights) * np.asarray(losses)))


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Deep Embedded Validation risk (You et al., ICML 2019, Algorithm 1).

    L = w ⊙ ℓ, η = −Cov(L, w) / Var(w), R_DEV = mean(L) + η · mean(w) − η: the IWV estimate with
    w as a control variate (E_s[w] = 1), which lowers its variance. Constant w gives η = 0.
    """
    w, ell = np.asarray(weights, dtype=float), np.asarray(losses, dtype=float)
    weighted = w * ell
    # np.cov and np.var(ddof=1) share the n − 1 normaliser, as in the authors' code.
    eta = 0.0 if np.ptp(w) == 0 else -np.cov(weighted, w)[0, 1] / np.var(w, ddof=1)
    return float(weighted.mean() + eta * w.mean() - eta)


@dataclass(frozen=True)
class ValidationInputs:
    """One checkpoint's outputs on source-val (labelled), source-train and target (unlabelled)."""

    logits_s_val: Tensor  # (N_sv, K)
    y_s_val: Tensor  # (N_sv,)
    logits_t: Tensor  # (N_t, K)
    features_s_train: Tensor  # (N_st, D) for the domain classifier behind iwv / dev
    features_s_val: Tensor  # (N_sv, D)
    features_t: Tensor  # (N_t, D)


def _np(x: Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def score_all(inputs: ValidationInputs, seed: int = 0) -> dict[str, float]:
    """Every validator in `VALIDATORS` for one checkpoint; higher is better for every key.

    iwv and dev are returned as −risk, with per-sample losses the cross-entropy on source-val.
    """
    logits_s, y_s = inputs.logits_s_val.detach().cpu(), inputs.y_s_val.detach().cpu()
    losses = _np(F.cross_entropy(logits_s.float(), y_s.long(), reduction="none"))
    w = importance_weights(
        _np(inputs.features_s_train), _np(inputs.features_t), _np(inputs.features_s_val), seed
    )
    return {
        "source_val_acc": source_val_accuracy(logits_s, y_s),
        "neg_entropy": neg_entropy(inputs.logits_t.detach().cpu()),
        "snd": snd(inputs.logits_t),
        "iwv": -iwv_risk(losses, w),
        "dev": -dev_risk(losses, w),
        "im": im(inputs.logits_t),
        "bnm": bnm(inputs.logits_t),
        "class_ami": class_ami(inputs.logits_t, inputs.features_t, seed),
    }


def select(scores_per_epoch: list[dict[str, float]], validator: str) -> int:
    """Index of the epoch with the highest `validator` score (first on ties; NaN never wins)."""
    if validator not in VALIDATORS:
        raise ValueError(f"unknown validator {validator!r}; valid: {', '.join(VALIDATORS)}")
    if not scores_per_epoch:
        raise ValueError("select needs at least one epoch of scores")
    scores = [s[validator] for s in scores_per_epoch]
    return max(range(len(scores)), key=lambda i: -math.inf if math.isnan(scores[i]) else scores[i])


def proxy_a_distance(f_s: np.ndarray, f_t: np.ndarray, seed: int = 0) -> float:
    """Proxy A-distance 2(1 − 2ε) (Ben-David et al., NIPS 2007; Ganin et al., JMLR 2016, Sec. 5.1).

    Both sets are balanced by subsampling to the smaller, each split 50/50 train/test; ε is the
    test error of a linear source-vs-target classifier. 2 means separable domains, 0 chance level.
    The raw value is returned, unclamped: it can be slightly negative when the domains are
    indistinguishable and ε lands just above 0.5 by chance.
    """
    rng = np.random.default_rng(seed)
    f_s, f_t = _balanced(np.asarray(f_s), np.asarray(f_t), rng)
    n = len(f_s)
    if n < 2:
        raise ValueError(f"proxy_a_distance needs at least 2 rows per domain, got {n}")
    idx_s, idx_t = rng.permutation(n), rng.permutation(n)
    half = n // 2
    x_train = np.concatenate([f_s[idx_s[:half]], f_t[idx_t[:half]]])
    x_test = np.concatenate([f_s[idx_s[half:]], f_t[idx_t[half:]]])
    y_train = np.repeat([0, 1], half)
    y_test = np.repeat([0, 1], n - half)
    clf = _domain_classifier(seed).fit(x_train, y_train)
    err = float(np.mean(clf.predict(x_test) != y_test))
    return 2 * (1 - 2 * err)
