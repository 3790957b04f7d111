"""Target self-training (SHOT): its losses by hand, its pseudo-labels, a frozen head, and a
real-data run that lifts an adapted model."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gantl.config import AdaptConfig, RefineConfig
from gantl.eval.metrics import accuracy, predict
from gantl.methods.refine import (
    centroid_pseudo_labels,
    information_maximization,
    refine_step,
    train_refine,
)
from gantl.models.classifier import Architecture, Classifier
from gantl.training.data import AdaptationData


def test_information_maximization_by_hand():
    """L_ent = mean_i H(p_i), L_div = H(mean_i p_i) on two 2-class predictions."""
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]], dtype=torch.float64)
    ent, div = information_maximization(logits)  # p = (3/4, 1/4) and (1/2, 1/2)
    h = lambda *p: -sum(q * math.log(q) for q in p)  # noqa: E731
    assert math.isclose(float(ent), (h(0.75, 0.25) + h(0.5, 0.5)) / 2, rel_tol=1e-12)
    mean = (0.625, 0.375)
    expected = -sum(q * math.log(q + 1e-5) for q in mean)
    assert math.isclose(float(div), expected, rel_tol=1e-12)


def test_centroid_pseudo_labels_follow_the_feature_clusters_not_the_classifier():
    """Two tight feature clusters; the classifier mislabels one point of each: the centroids
    (prediction-weighted, then re-estimated once) give each point its cluster's class."""
    f = torch.tensor(
        [[1.0, 0.05], [1.0, -0.05], [0.95, 0.0], [0.05, 1.0], [-0.05, 1.0], [0.0, 0.9]]
    )
    logits = torch.tensor([[3.0, 0], [3.0, 0], [0, 1.0], [0, 3.0], [0, 3.0], [1.0, 0]])
    assert logits.argmax(1).tolist() == [0, 0, 1, 1, 1, 0]
    assert centroid_pseudo_labels(f, logits).tolist() == [0, 0, 0, 1, 1, 1]


def test_refine_step_descends_im_plus_beta_pseudo_label_loss_with_the_head_frozen():
    torch.manual_seed(0)
    model = Classifier(Architecture("lenet", 1, 16, 10)).double()
    model.eval()  # no dropout noise: one deterministic step to check by hand
    model.head.requires_grad_(False)
    x, pseudo = torch.randn(8, 1, 16, 16, dtype=torch.float64), torch.arange(8) % 10
    params = {n: p.detach().clone() for n, p in model.encoder.named_parameters()}
    head = {n: p.detach().clone() for n, p in model.head.named_parameters()}
    logits = model(x)
    p = logits.softmax(1)
    ent = -(p * p.log()).sum(1).mean()
    div = -(p.mean(0) * (p.mean(0) + 1e-5).log()).sum()
    loss = ent - div + 0.3 * F.cross_entropy(logits, pseudo)
    grads = torch.autograd.grad(loss, list(model.encoder.parameters()))
    opt = torch.optim.SGD(model.encoder.parameters(), lr=0.1)
    logs = refine_step(model, opt, x, pseudo, beta=0.3)
    assert math.isclose(logs["ent"], ent.item(), rel_tol=1e-10)
    assert math.isclose(logs["div"], div.item(), rel_tol=1e-10)
    for (name, before), g in zip(params.items(), grads, strict=True):
        after = dict(model.encoder.named_parameters())[name]
        torch.testing.assert_close(after.detach(), before - 0.1 * g, rtol=1e-10, atol=1e-12)
    for name, before in head.items():
        assert torch.equal(dict(model.head.named_parameters())[name], before)


def test_refine_lifts_an_adapted_model_on_real_digits(mnist_usps):
    """From the source model on MNIST → USPS: self-training on USPS images alone helps."""
    source, data, (x_test, y_test) = mnist_usps
    before = accuracy(y_test, predict(source, x_test))
    cfg = RefineConfig(epochs=4, batch_size=64, device="cpu")
    adapt = AdaptConfig(validator="im", validation_samples=300)
    result = train_refine(source, data, cfg, adapt, 0)
    after = accuracy(y_test, predict(result.selected, x_test))
    print(f"refine: source-only {before:.4f} → {after:.4f}")
    assert after > before + 0.02, (before, after)
    for k, v in source.head.state_dict().items():  # the hypothesis stays fixed
        assert torch.equal(v, result.selected.head.state_dict()[k]), k
    assert isinstance(data, AdaptationData)
