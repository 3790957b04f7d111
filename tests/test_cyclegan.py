"""CycleGAN: the image pool, the learning-rate schedule, learning, exact resume, a time budget."""

from __future__ import annotations

import pytest
import torch

from gantl.config import CycleGanConfig
from gantl.methods.cyclegan import ImagePool, train_cyclegan, translate
from gantl.training import gan_loop
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


def test_a_time_budget_ends_the_run_early_on_an_annealed_learning_rate(monkeypatch):
    a, b = two_domains()
    cfg = TINY.model_copy(update={"epochs": 50, "decay_epochs": 10})
    clock = {"now": 0.0}  # a clock that only the metrics move: 6 s an epoch, 10 fit a minute
    monkeypatch.setattr(gan_loop.time, "perf_counter", lambda: clock["now"])

    def slow_metrics(epoch: int, g_ab, g_ba) -> dict[str, float]:
        clock["now"] += 6.0
        return {"probe": float(epoch)}

    result = train_cyclegan(a, b, cfg, seed=0, on_epoch=slow_metrics, budget_minutes=1.0)
    assert [h["probe"] for h in result.history] == list(range(1, 11))
    lrs = [h["lr"] for h in result.history]  # 10 of 50 epochs: the last 2 of them decay
    assert lrs == pytest.approx([cfg.lr] * 8 + [cfg.lr * 2 / 3, cfg.lr / 3])


def test_a_score_keeps_the_best_epochs_generators_through_an_interruption(tmp_path):
    a, b = two_domains()
    cfg = TINY.model_copy(update={"epochs": 4})
    seen: dict[int, dict] = {}

    def snapshot(epoch: int, g_ab, g_ba) -> dict[str, float]:
        seen[epoch] = {k: v.clone() for k, v in g_ab.state_dict().items()}
        return {"quality": -abs(epoch - 2)}  # epoch 2 is best

    def best_is_2(record: dict) -> float:
        return record["quality"]

    whole = train_cyclegan(a, b, cfg, seed=3, on_epoch=snapshot, score=best_is_2)
    assert whole.best_epoch == 2 and len(whole.history) == 4
    for key, value in whole.G_AB.state_dict().items():
        assert torch.equal(value, seen[2][key]), key
    steps = {"n": 0}

    def crash_in_epoch_4() -> None:
        steps["n"] += 1
        if steps["n"] == 3 * 4 + 1:
            raise KeyboardInterrupt

    cut = dict(seed=3, state_dir=tmp_path / "cut", score=best_is_2)
    with pytest.raises(KeyboardInterrupt):
        train_cyclegan(a, b, cfg, on_epoch=snapshot, on_step=crash_in_epoch_4, **cut)
    resumed = train_cyclegan(a, b, cfg, on_epoch=snapshot, **cut)
    assert resumed.resumed_from == 3 and resumed.best_epoch == 2
    for key, value in whole.G_AB.state_dict().items():
        assert torch.equal(value, resumed.G_AB.state_dict()[key]), key
    last = train_cyclegan(a, b, cfg, seed=3)  # no score: the last epoch's generators
    assert last.best_epoch == 4
