"""CycleGAN: the image pool, the learning-rate schedule, learning, and exact resume."""

from __future__ import annotations

import pytest
import torch

from gantl.config import CycleGanConfig
from gantl.methods.cyclegan import ImagePool, train_cyclegan, translate
from gantl.training.schedules import linear_decay
from tests.conftest import two_domains

TINY = CycleGanConfig(
    epochs=3,
    decay_epochs=1,
    batch_size=8,
    ngf=4,
    n_blocks=1,
    ndf=4,
    d_layers=1,
    pool_size=10,
    device="cpu",
)


def test_lr_is_constant_then_falls_linearly():
    assert [linear_decay(e, 4, 2) for e in (1, 2, 3, 4)] == pytest.approx([1, 1, 2 / 3, 1 / 3])
    assert linear_decay(5, 5, 0) == 1.0


def test_image_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(4, torch.Generator().manual_seed(0))
    first = torch.arange(4.0).view(4, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as given
    new = torch.arange(100.0, 300.0).view(200, 1)
    out = pool.query(new)
    old = int((out != new).sum())
    assert 70 < old < 130  # about half come from history
    assert pool.state().shape == (4, 1)
    assert torch.equal(ImagePool(0, torch.Generator()).query(new), new)


def test_cycle_reconstruction_error_falls():
    a, b = two_domains()
    cfg = TINY.model_copy(update={"epochs": 8, "decay_epochs": 2, "batch_size": 4, "lr": 1e-3})
    result = train_cyclegan(a, b, cfg, seed=0)
    cycle = [h["cycle"] for h in result.history]
    assert cycle[-1] < 0.5 * cycle[0]
    assert translate(result.G_AB, a).shape == a.shape


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path):
    a, b = two_domains()
    whole = train_cyclegan(a, b, TINY, seed=1, state_dir=tmp_path / "whole")
    steps = {"n": 0}

    def crash_in_epoch_3() -> None:
        steps["n"] += 1
        if steps["n"] == 2 * 4 + 2:  # 4 steps per epoch: the second step of epoch 3
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_cyclegan(a, b, TINY, seed=1, state_dir=tmp_path / "cut", on_step=crash_in_epoch_3)
    resumed = train_cyclegan(a, b, TINY, seed=1, state_dir=tmp_path / "cut")
    assert resumed.resumed_from == 2
    for key, value in whole.G_AB.state_dict().items():
        assert torch.equal(value, resumed.G_AB.state_dict()[key]), key
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in whole.history]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in resumed.history]
    # Another seed does not pick up this state.
    other = train_cyclegan(a, b, TINY, seed=2, state_dir=tmp_path / "cut")
    assert other.resumed_from == 0
