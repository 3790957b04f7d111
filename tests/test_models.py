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


def test_shot_recipe_bottleneck_and_weight_normalised_head(tmp_path):
    from gantl.checkpoint import load_classifier, save_checkpoint

    arch = Architecture("lenet", 1, 28, 10, bottleneck=64, head="weight_norm")
    model = Classifier(arch)
    x = torch.randn(8, 1, 28, 28)
    model.train()
    f = model.features(x)
    assert f.shape == (8, 64)
    # the encoder ends in BatchNorm: in training mode each feature is standardised on the batch
    torch.testing.assert_close(f.mean(0), torch.zeros(64), atol=1e-5, rtol=0)
    # w_k = g_k v_k / ‖v_k‖: scaling v leaves the head unchanged
    head = model.head
    weight = head.weight.detach().clone()
    with torch.no_grad():
        head.parametrizations.weight.original1.mul_(3.0)
    torch.testing.assert_close(head.weight, weight)
    norms = head.weight.norm(dim=1)
    torch.testing.assert_close(norms, head.parametrizations.weight.original0.flatten().abs())
    # the record rebuilds the same network from a checkpoint
    model.eval()
    save_checkpoint(tmp_path / "m", model, {"stage": "test"})
    loaded, _ = load_classifier(tmp_path / "m")
    assert loaded.arch == arch
    torch.testing.assert_close(loaded(x), model(x))
