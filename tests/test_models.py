"""Network shapes and architecture records."""

from __future__ import annotations

import pytest
import torch

from gantl.models.classifier import Architecture, Classifier, choose_model


@pytest.mark.parametrize(
    ("name", "channels", "size", "feature_dim"),
    [("lenet", 1, 28, 500), ("lenet", 3, 32, 500), ("dtn", 3, 32, 512), ("dtn", 1, 28, 512)],
)
def test_classifier_shapes(name, channels, size, feature_dim):
    model = Classifier(Architecture(name, channels, size, num_classes=10))
    x = torch.randn(4, channels, size, size)
    assert model.features(x).shape == (4, feature_dim)
    assert model(x).shape == (4, 10)


def test_dtn_width_shrinks_the_net():
    full = Classifier(Architecture("dtn", 3, 32, 10, width=1.0))
    half = Classifier(Architecture("dtn", 3, 32, 10, width=0.5))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(half) < count(full) / 2


def test_auto_picks_lenet_for_grey_and_dtn_for_rgb():
    assert choose_model("auto", 1) == "lenet"
    assert choose_model("auto", 3) == "dtn"
    assert choose_model("lenet", 3) == "lenet"
    with pytest.raises(ValueError, match="unknown model"):
        choose_model("vgg", 1)


def test_lenet_rejects_too_small_images():
    with pytest.raises(ValueError, match="at least 16"):
        Classifier(Architecture("lenet", 1, 12, 10))
