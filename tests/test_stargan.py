"""StarGAN: target-domain sampling, learning the requested domain, and exact resume."""

from __future__ import annotations

import pytest
import torch

from gantl.config import StarGanConfig
from gantl.methods.stargan import domain_classifier, other_domains, train_stargan, translate_to
from tests.conftest import two_domains

TINY = StarGanConfig(
    epochs=12,
    decay_epochs=2,
    batch_size=8,
    lr_g=1e-3,
    lr_d=1e-3,
    g_conv_dim=8,
    g_blocks=1,
    d_conv_dim=8,
    d_repeat=2,
    n_critic=1,
    device="cpu",
)


def test_other_domains_never_returns_the_source_domain():
    c = torch.arange(5).repeat(200)
    trg = other_domains(c, 5, torch.Generator().manual_seed(0))
    assert (trg != c).all()
    assert set(trg.tolist()) == set(range(5))


def test_generator_produces_the_requested_domain():
    a, b = two_domains()
    result = train_stargan([a, b], TINY, seed=0)
    classify = domain_classifier(result.D)
    assert (classify(a) == 0).float().mean() > 0.9  # D_cls knows the real domains
    assert (classify(b) == 1).float().mean() > 0.9
    assert (classify(translate_to(result.G, a, 1, 2)) == 1).float().mean() > 0.9
    assert (classify(translate_to(result.G, b, 0, 2)) == 0).float().mean() > 0.9
    # and the translation looks like the requested domain, not only to D: B is mostly bright
    assert translate_to(result.G, a, 1, 2).mean() > 0


def test_resume_equals_uninterrupted(tmp_path):
    a, b = two_domains(16)
    cfg = TINY.model_copy(update={"epochs": 3, "decay_epochs": 1, "n_critic": 2})
    whole = train_stargan([a, b], cfg, seed=3, state_dir=tmp_path / "whole")
    calls = {"n": 0}

    def crash() -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # 2 steps per epoch: the first step of epoch 3
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_stargan([a, b], cfg, seed=3, state_dir=tmp_path / "cut", on_step=crash)
    resumed = train_stargan([a, b], cfg, seed=3, state_dir=tmp_path / "cut")
    assert resumed.resumed_from == 2
    for key, value in whole.G.state_dict().items():
        assert torch.equal(value, resumed.G.state_dict()[key]), key
