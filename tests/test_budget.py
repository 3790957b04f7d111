"""`epochs: auto`: a step budget becomes whole epochs once a stage knows its data size."""

from __future__ import annotations

import pytest

from gantl.config import DannConfig, RefineConfig, TrainConfig
from gantl.errors import ConfigError
from gantl.training.batches import balanced_steps, shuffled_steps
from gantl.training.budget import epochs_for, resolve_epochs


def test_steps_become_the_whole_epochs_that_cover_them():
    assert epochs_for(1000, 32) == 32  # 31.25 → 32 epochs of 32 steps = 1024 ≥ 1000
    assert epochs_for(1000, 1000) == 1
    assert epochs_for(10, 500) == 1  # never zero epochs
    # the same budget on 2,000 and on 60,000 images: one pass of 60,000 is already 938 steps
    assert epochs_for(1000, shuffled_steps(2000, 64)) == 32
    assert epochs_for(1000, shuffled_steps(60000, 64)) == 2


def test_auto_resolves_and_fixed_epochs_are_kept():
    cfg = TrainConfig(epochs="auto", steps=1000, batch_size=64)
    assert resolve_epochs(cfg, shuffled_steps(2000, 64)).epochs == 32
    fixed = TrainConfig(epochs=7, steps=1000)
    assert resolve_epochs(fixed, 10) is fixed
    dann = DannConfig(epochs="auto", steps=6000, batch_size=32)
    assert resolve_epochs(dann, balanced_steps((2000, 1800), 32)).epochs == 97  # 62 per epoch
    assert resolve_epochs(RefineConfig(epochs="auto", steps=900), 28).epochs == 33


def test_epochs_must_be_positive_or_auto():
    from gantl.config import params_from_dict

    with pytest.raises(ConfigError, match=r"pretrain\.epochs"):
        params_from_dict({"pretrain": {"epochs": "many"}}, "p.yaml")
    with pytest.raises(ConfigError, match=r"pretrain\.epochs"):
        params_from_dict({"pretrain": {"epochs": 0}}, "p.yaml")
