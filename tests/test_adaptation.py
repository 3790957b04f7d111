"""Gradient reversal, DANN's schedules, ADDA's frozen parts, and short real adaptation runs
(DANN, ADDA, CDAN+E)."""

from __future__ import annotations

import math

import pytest
import torch

from gantl.config import VALIDATORS, AdaptConfig, AddaConfig, CdanConfig, DannConfig
from gantl.eval.metrics import accuracy, predict
from gantl.eval.validators import VALIDATORS as VALIDATOR_FUNCS
from gantl.methods.adda import adda_step, train_adda
from gantl.methods.cdan import train_cdan
from gantl.methods.dann import train_dann
from gantl.models.classifier import Architecture, Classifier
from gantl.models.discriminator import DomainDiscriminator
from gantl.models.grl import grad_reverse
from gantl.training.batches import paired_batches, shuffled_batches
from gantl.training.data import AdaptationData
from gantl.training.schedules import annealed_lr, dann_lambda
from gantl.training.selection import KeepBest


def test_grl_is_identity_forward_and_reverses_scaled_gradients():
    x = torch.randn(5, 3, requires_grad=True)
    y = grad_reverse(x, 0.3)
    assert torch.equal(y, x)
    weights = torch.randn(5, 3)
    (y * weights).sum().backward()
    torch.testing.assert_close(x.grad, -0.3 * weights)


def test_lambda_and_learning_rate_schedules():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_lambda(0.5, gamma=10, hi=0.5) == pytest.approx(0.5 * (2 / (1 + math.exp(-5)) - 1))
    assert annealed_lr(0.0, 0.01) == 0.01
    assert annealed_lr(1.0, 0.01) == pytest.approx(0.01 / 11**0.75)


def test_validator_names_agree():
    assert VALIDATORS == VALIDATOR_FUNCS


def test_paired_batches_are_balanced_and_cover_the_larger_domain():
    g = torch.Generator().manual_seed(0)
    pairs = list(paired_batches(100, 30, 10, g))
    assert len(pairs) == 10
    assert all(len(s) == len(t) == 10 for s, t in pairs)
    assert sorted(torch.cat([s for s, _ in pairs]).tolist()) == list(range(100))
    assert max(torch.cat([t for _, t in pairs]).tolist()) < 30


def test_a_pool_of_views_is_sampled_for_as_many_steps_as_there_are_images():
    """Original + translated source (200 rows, 100 images): an epoch is 100 images' steps,
    drawn without repeats from the whole pool, so augmentation adds views, not steps."""
    g = torch.Generator().manual_seed(0)
    steps = AdaptationData(
        *[torch.zeros(200)] * 2, torch.zeros(30), *[torch.zeros(5)] * 4, source_images=100
    ).steps_per_epoch(10)
    assert steps == 10
    pairs = list(paired_batches(200, 30, 10, g, steps))
    drawn = torch.cat([s for s, _ in pairs])
    assert len(pairs) == 10 and len(drawn.unique()) == 100 and drawn.max() >= 100
    rows = torch.cat(list(shuffled_batches(200, 32, g, rows=100)))
    assert len(rows) == 100 and len(rows.unique()) == 100
    assert len(torch.cat(list(shuffled_batches(200, 32, g)))) == 200


def test_validate_every_scores_every_kth_and_the_last_epoch():
    torch.manual_seed(0)
    model = Classifier(Architecture("lenet", 1, 16, 10))
    x = torch.randn(40, 1, 16, 16)
    y = torch.arange(40) % 10
    data = AdaptationData(x, y, x + 1, x[:20], y[:20], x[20:] + 1, y[20:])
    adapt = AdaptConfig(validator="neg_entropy", validation_samples=20, validate_every=3)
    keep = KeepBest(data, adapt, 7, torch.device("cpu"), 0)
    for epoch in range(1, 8):
        with torch.no_grad():
            model.head.bias.add_(0.1)  # a different model each epoch
        keep.end_epoch(epoch, model, {"loss": 0.0})
    result = keep.result(model)
    assert [h["epoch"] for h in result.history] == list(range(1, 8))
    scored = [h["epoch"] for h in result.history if "neg_entropy" in h]
    assert scored == [3, 6, 7]
    assert set(result.picks.values()) <= {3, 6, 7}


def test_traced_test_accuracy_is_recorded_but_never_picks_a_checkpoint():
    from gantl.eval.metrics import accuracy, predict

    torch.manual_seed(0)
    model = Classifier(Architecture("lenet", 1, 16, 10))
    x = torch.randn(40, 1, 16, 16)
    y = torch.arange(40) % 10
    data = AdaptationData(x, y, x + 1, x[:20], y[:20], x[20:] + 1, y[20:], x - 1, y)
    adapt = AdaptConfig(validator="neg_entropy", validation_samples=20, validate_every=2)
    keep = KeepBest(data, adapt, 3, torch.device("cpu"), 0)
    for epoch in range(1, 4):
        with torch.no_grad():
            model.head.bias.add_(0.1)
        keep.end_epoch(epoch, model, {"loss": 0.0})
        if epoch in (2, 3):
            expected = accuracy(y, predict(model, x - 1))
            assert keep.history[-1]["target_test_acc"] == expected
    assert "target_test_acc" not in keep.history[0]  # an epoch between validations
    result = keep.result(model)
    assert "target_test_acc" not in result.picks and "target_test_acc" not in keep.picker.best


def test_adda_step_leaves_source_encoder_and_head_bitwise_untouched():
    torch.manual_seed(0)
    source = Classifier(Architecture("lenet", 1, 16, 10)).eval()
    before = {k: v.clone() for k, v in source.state_dict().items()}
    target = Classifier(Architecture("lenet", 1, 16, 10))
    target.load_state_dict(source.state_dict())
    disc = DomainDiscriminator(500)
    opt_t = torch.optim.Adam(target.encoder.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3)
    for p in source.parameters():
        p.requires_grad_(False)
    x_s, x_t = torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16) + 1
    adda_step(source.encoder, target.encoder, disc, opt_t, opt_d, x_s, x_t)
    for k, v in source.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(target.encoder.features[0].weight, before["encoder.features.0.weight"])
    assert torch.equal(target.head.weight, before["head.weight"])  # C is shared and frozen


SELECT = AdaptConfig(validator="neg_entropy", validation_samples=500)


@pytest.mark.parametrize("variant", ["grl", "alternating"])
def test_dann_improves_target_accuracy_over_source_only(mnist_usps, variant):
    source, data, (x_test, y_test) = mnist_usps
    before = accuracy(y_test, predict(source, x_test))
    cfg = DannConfig(variant=variant, epochs=8, batch_size=32, device="cpu")
    result = train_dann(source, data, cfg, SELECT, 0)
    after = accuracy(y_test, predict(result.selected, x_test))
    print(f"DANN ({variant}): source-only {before:.4f} → {after:.4f}")
    assert after > before + 0.02, (before, after)
    assert set(result.picks) == {*VALIDATORS, "target_val_acc"}


def test_cdan_improves_target_accuracy_over_source_only(mnist_usps):
    """CDAN+E with the defaults' conditioning: LeNet's 500 × 10 > 4096, so the randomized map."""
    source, data, (x_test, y_test) = mnist_usps
    before = accuracy(y_test, predict(source, x_test))
    cfg = CdanConfig(epochs=8, batch_size=32, device="cpu")
    result = train_cdan(source, data, cfg, SELECT, 0)
    after = accuracy(y_test, predict(result.selected, x_test))
    print(f"CDAN+E: source-only {before:.4f} → {after:.4f}")
    assert after > before + 0.02, (before, after)
    assert set(result.picks) == {*VALIDATORS, "target_val_acc"}
    assert {"cls_loss", "domain_loss", "domain_acc", "lambda"} <= set(result.history[-1])


def test_adda_improves_target_accuracy_over_source_only(mnist_usps):
    source, data, (x_test, y_test) = mnist_usps
    before = accuracy(y_test, predict(source, x_test))
    cfg = AddaConfig(epochs=8, batch_size=32, device="cpu")
    before_weights = {k: v.clone() for k, v in source.state_dict().items()}
    result = train_adda(source, data, cfg, SELECT, 0)
    for k, v in source.state_dict().items():  # M_s and C untouched, bitwise
        assert torch.equal(v, before_weights[k]), k
    for k, v in result.selected.head.state_dict().items():  # the adapted model keeps C
        assert torch.equal(v, before_weights[f"head.{k}"]), k
    after = accuracy(y_test, predict(result.selected, x_test))
    print(f"ADDA: source-only {before:.4f} → {after:.4f}")
    assert after > before + 0.05, (before, after)
    assert result.upper_bound is not None
