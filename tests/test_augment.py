"""Batch affine augmentation: identity when every range is zero, a known shift, determinism."""

from __future__ import annotations

import torch

from gantl.data.augment import random_affine


def test_zero_ranges_give_the_identity():
    x = torch.rand(4, 3, 12, 12)
    g = torch.Generator().manual_seed(0)
    out = random_affine(x, g, degrees=0.0, translate=0.0, scale=(1.0, 1.0))
    torch.testing.assert_close(out, x)


def test_a_pure_shift_moves_the_digit_by_the_drawn_amount():
    x = torch.full((1, 1, 10, 10), -1.0)
    x[0, 0, 4:6, 4:6] = 1.0  # a bright 2×2 square in the middle
    g = torch.Generator().manual_seed(3)
    out = random_affine(x, g, degrees=0.0, translate=0.2, scale=(1.0, 1.0))
    u = torch.rand(1, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    dx, dy = ((2 * u[0, 2:] - 1) * 0.2 * 10).tolist()  # in pixels
    weights = (out[0, 0] + 1).clamp(min=0)
    cols, rows = torch.arange(10.0), torch.arange(10.0)
    cx = float((weights.sum(0) * cols).sum() / weights.sum())
    cy = float((weights.sum(1) * rows).sum() / weights.sum())
    assert abs(cx - (4.5 + dx)) < 0.05 and abs(cy - (4.5 + dy)) < 0.05


def test_same_seed_same_warps_and_each_image_its_own():
    x = torch.rand(1, 1, 16, 16).repeat(6, 1, 1, 1)
    a = random_affine(x, torch.Generator().manual_seed(1))
    b = random_affine(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])
    assert a.shape == x.shape


def test_photometric_contrast_brightness_and_inversion_by_hand():
    from gantl.data.augment import random_photometric

    x = torch.linspace(-0.5, 0.5, 16).view(1, 1, 4, 4).repeat(5, 1, 1, 1)
    out = random_photometric(x, torch.Generator().manual_seed(2), invert=0.5)
    u = torch.rand(5, 4, generator=torch.Generator().manual_seed(2))
    contrast, brightness = 1 + 0.4 * (2 * u[:, 0] - 1), 0.25 * (2 * u[:, 1] - 1)
    sign = torch.where(u[:, 2] < 0.5, -1.0, 1.0)
    expected = sign.view(5, 1, 1, 1) * (x * contrast.view(5, 1, 1, 1) + brightness.view(5, 1, 1, 1))
    torch.testing.assert_close(out, expected.clamp(-1, 1))


def test_strong_augmentation_keeps_shape_and_range_and_mixes_rgb_channels():
    from gantl.data.augment import augment_batch

    x = torch.rand(32, 3, 16, 16) * 2 - 1
    g = torch.Generator().manual_seed(0)
    out = augment_batch(x, "strong", g)
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    assert torch.equal(augment_batch(x, "none", g), x)
    again = augment_batch(x, "strong", torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
