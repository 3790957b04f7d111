"""Shapes and ranges of the translators' networks for 1- and 3-channel digits."""

from __future__ import annotations

import pytest
import torch

from gantl.models.cyclegan_nets import PatchDiscriminator, ResnetGenerator
from gantl.models.stargan_nets import StarDiscriminator, StarGenerator


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_cyclegan_networks(channels, size):
    torch.manual_seed(0)
    x = torch.randn(2, channels, size, size)
    g = ResnetGenerator(channels, channels, ngf=8, n_blocks=2)
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert PatchDiscriminator(channels, ndf=8, n_layers=2)(x).shape == (
        2,
        1,
        size // 4 - 2,
        size // 4 - 2,
    )
    assert PatchDiscriminator(channels, ndf=8, n_layers=1)(x).shape == (
        2,
        1,
        size // 2 - 2,
        size // 2 - 2,
    )
    with pytest.raises(ValueError, match="divisible by 4"):
        g(torch.randn(1, channels, 30, 30))


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_stargan_networks(channels, size):
    torch.manual_seed(0)
    x = torch.randn(4, channels, size, size)
    c = torch.eye(3)[torch.tensor([0, 1, 2, 0])]
    g = StarGenerator(channels, c_dim=3, conv_dim=8, n_blocks=2)
    y = g(x, c)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert not torch.allclose(g(x, c), g(x, c.roll(1, dims=1)))  # the label changes the output
    src, cls = StarDiscriminator(channels, size, c_dim=3, conv_dim=8, repeat_num=3)(x)
    assert src.shape == (4, 1, size // 8, size // 8)
    assert cls.shape == (4, 3)
