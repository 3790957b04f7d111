"""Shape and split rules of the prepare step."""

from __future__ import annotations

import numpy as np
import pytest

from gantl.config import PrepareConfig
from gantl.data.domain import RawDomain, make_split
from gantl.data.prepare import convert_images, experiment_shape, split_domain
from gantl.errors import ConfigError


def _domain(splits: dict[str, int], channels: int = 1, size: int = 16) -> RawDomain:
    rng = np.random.default_rng(1)
    made = {
        name: make_split(
            rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8),
            rng.integers(0, 10, n),
            f"fake-{name}",
        )
        for name, n in splits.items()
    }
    return RawDomain(name="fake", spec="npz:fake.npz", splits=made)


def test_shape_rule_grey_28_rgb_32_and_overrides():
    grey, rgb = _domain({"train": 5}), _domain({"train": 5}, channels=3)
    assert experiment_shape(grey, grey, PrepareConfig()) == (28, 1)
    assert experiment_shape(grey, rgb, PrepareConfig()) == (32, 3)
    assert experiment_shape(grey, rgb, PrepareConfig(channels=1, image_size=24)) == (24, 1)


def test_convert_resizes_and_changes_channels():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (3, 16, 16, 1), dtype=np.uint8)
    rgb = convert_images(grey, 28, 3)
    assert rgb.shape == (3, 28, 28, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])  # grey replicated
    flat = np.full((2, 8, 8, 3), 200, np.uint8)
    np.testing.assert_array_equal(convert_images(flat, 8, 1), np.full((2, 8, 8, 1), 200))
    assert convert_images(grey, 16, 1) is grey  # nothing to do


def test_splits_are_disjoint_sized_and_test_untouched():
    domain = _domain({"train": 1000, "test": 300})
    out = split_domain(domain, PrepareConfig(val_fraction=0.1), 500, "x", np.random.default_rng(0))
    train_rows, val_rows = out.raw_rows["train"][1], out.raw_rows["val"][1]
    assert len(train_rows) == 500 and len(val_rows) == 100
    assert not set(train_rows) & set(val_rows)
    assert out.raw_rows["test"] == ("test", out.raw_rows["test"][1])
    np.testing.assert_array_equal(out.raw_rows["test"][1], np.arange(300))
    np.testing.assert_array_equal(out.splits["test"].images, domain.splits["test"].images)


def test_single_split_domain_is_carved_and_says_so():
    domain = _domain({"test": 1000})
    out = split_domain(
        domain, PrepareConfig(holdout_fraction=0.5), None, "x", np.random.default_rng(0)
    )
    test_rows = out.raw_rows["test"][1]
    pool = set(out.raw_rows["train"][1]) | set(out.raw_rows["val"][1])
    assert len(test_rows) == 500 and not pool & set(test_rows)
    assert len(pool) == 500
    assert any("no separate train split" in n for n in out.notes)


def test_too_many_training_images_requested_names_the_field():
    domain = _domain({"train": 100, "test": 10})
    with pytest.raises(ConfigError, match=r"prepare.source_train_size: 500 .* only 90"):
        split_domain(domain, PrepareConfig(), 500, "source_train_size", np.random.default_rng(0))
