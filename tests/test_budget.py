"""`epochs: auto`: a step budget becomes whole epochs once a stage knows its data size."""

from __future__ import annotations

import pytest

from gantl.config import DannConfig, RefineConfig, TrainConfig
from gantl.errors import ConfigError
from gantl.training.batches import balanced_steps, shuffled_steps
from gantl.training.budget import TimeBudget, epochs_for, resolve_epochs


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


def test_a_time_budget_shrinks_the_plan_and_its_decay_in_proportion():
    budget = TimeBudget(epochs=30, decay_epochs=10, minutes=1.0)
    assert budget.planned == 30 and budget.lr_factor(20) == 1.0
    budget.update(done=1, seconds=6.0)  # 6 s an epoch: 10 fit in a minute
    assert budget.planned == 10 and budget.decay == 3  # 10 of 30 epochs: 3 of 10 decay ones
    assert budget.lr_factor(7) == 1.0 and budget.lr_factor(10) == pytest.approx(1 - 3 / 4)
    budget.update(done=2, seconds=6.0)  # faster epochs never grow the plan back
    assert budget.planned == 10
    assert budget.more(9) and not budget.more(10)


def test_an_exhausted_budget_stops_after_the_epoch_that_ran_and_none_means_no_budget():
    budget = TimeBudget(epochs=30, decay_epochs=10, minutes=0.5)
    budget.update(done=1, seconds=45.0)  # the first epoch alone overran
    assert budget.planned == 1 and not budget.more(1)
    unbounded = TimeBudget(epochs=30, decay_epochs=10, minutes=None)
    unbounded.update(done=1, seconds=1e6)
    assert unbounded.planned == 30 and unbounded.decay == 10
