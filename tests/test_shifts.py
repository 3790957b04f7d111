"""Shifted target domains: each shift does what it says, and the NPZ reads back as a domain."""

from __future__ import annotations

import numpy as np
import pytest

from gantl.bench_shifts import guard_holds, shifts_markdown
from gantl.data.domain import RawDomain, Split
from gantl.data.readers import read_npz
from gantl.data.shifts import SHIFTS, shift_images, write_shift


def _digits(n: int = 6) -> np.ndarray:
    x = np.zeros((n, 16, 16, 1), np.uint8)
    x[:, 4:12, 7:9] = 255  # a vertical bar: a "1"
    return x


def test_invert_flips_polarity_and_shrink_keeps_ink_inside_the_frame():
    x = _digits()
    inv = shift_images(x, "invert", 16, seed=0)
    assert inv.shape == (6, 16, 16, 1)
    assert (inv[:, 0, 0] == 255).all() and (inv[:, 6, 7] == 0).all()  # paper white, ink black
    np.testing.assert_array_equal(
        shift_images(x, "rotate", 16, 3), shift_images(x, "rotate", 16, 3)
    )
    small = shift_images(x, "shrink_shift", 16, seed=0).astype(float)
    assert 0.1 < small.sum() / x.astype(float).sum() < 0.5  # half the size: about a quarter


def test_rotation_turns_the_bar_away_from_vertical():
    x = shift_images(_digits(), "rotate", 28, seed=0)[..., 0].astype(float)
    rows, cols = np.nonzero(x[0] > 128)
    slope = np.polyfit(rows, cols, 1)[0]  # columns change along the rows once rotated
    assert 0.5 < abs(slope) < 1.3  # tan(30°) ≈ 0.58 … tan(50°) ≈ 1.19


def test_contrast_noise_and_thick_blur_stay_in_range_and_differ_from_the_input():
    x = _digits()
    for name in SHIFTS:
        out = shift_images(x, name, 16, seed=0)
        assert out.dtype == np.uint8 and out.shape == (6, 16, 16, 1)
        assert not np.array_equal(out, x)
    low = shift_images(x, "contrast_noise", 16, seed=0).astype(float)[..., 0]
    ink, paper = low[:, 5:11, 7:9].mean(), low[:, :, :3].mean()
    assert 70 < ink - paper < 100  # a third of the 255 contrast, plus zero-mean noise
    thick = shift_images(x, "thick_blur", 16, seed=0)
    assert (thick > 64).sum() > (x > 64).sum()  # strokes got wider


def test_write_shift_round_trips_through_the_npz_reader(tmp_path):
    labels = np.arange(6) % 10
    domain = RawDomain(
        name="bars",
        spec="test",
        splits={
            "train": Split(_digits(), labels, np.array([f"r#{i}" for i in range(6)])),
            "test": Split(_digits(), labels, np.array([f"t#{i}" for i in range(6)])),
        },
    )
    path = write_shift(domain, "invert", tmp_path / "bars-invert.npz", size=20)
    read = read_npz(path)
    assert read.shape == (20, 20, 1)
    np.testing.assert_array_equal(read.splits["test"].labels, labels)
    with pytest.raises(ValueError, match="unknown shift"):
        write_shift(domain, "melt", tmp_path / "x.npz")


def test_guard_check_and_table():
    def record(recommended: str, chosen: float) -> dict:
        return {
            "results": {
                "source_only": {"target_acc_mean": 0.50},
                "dann": {"target_acc_mean": chosen},
                "oracle": {"target_acc_mean": 0.99},
            },
            "recommended": recommended,
            "adaptation_failed": recommended == "source_only",
            "total_seconds": 60.0,
            "seeds": [0],
            "commit": "abc",
            "shift": {"description": "a test"},
        }

    assert guard_holds(record("dann", 0.495)) and not guard_holds(record("dann", 0.48))
    suite = {"base": "b", "source": "s", "shifts": {"x": record("dann", 0.7)}}
    table = shifts_markdown(suite)
    assert "| x | 50.0 | 70.0 ★ | 99.0 | dann | yes | 1.0 |" in table
    assert "Seeds [0], commit `abc`." in table
    later = record("source_only", 0.4) | {"commit": "def4567890"}
    later["results"]["dann"]["collapsed"] = True  # flagged by the guard
    merged = shifts_markdown({**suite, "shifts": {"x": record("dann", 0.7), "y": later}})
    assert "commit per shift: x `abc`, y `def4567`." in merged
    assert "| y | 50.0 ★ | 40.0 ✗ | 99.0 | source_only (adaptation failed) | yes |" in merged


def test_shifts_table_is_written_beside_its_json(tmp_path):
    from gantl.bench_shifts import write_shifts

    suite = {"base": "b", "source": "s", "shifts": {}}
    markdown = write_shifts(suite, tmp_path / "shifts.json")
    assert (
        markdown == tmp_path / "shifts.md"
        and "# Shifts of b as targets of s" in markdown.read_text()
    )
