"""The domain judge: a source-vs-target classifier trained on unlabelled images, seeded, whose
features put target-styled images near real target ones (`dom_fid`)."""

from __future__ import annotations

import torch

from gantl.eval.domain_judge import judge_accuracy, train_domain_judge
from gantl.eval.gan_metrics import label_free_quality
from gantl.models.classifier import Architecture, Classifier


def _domains(n: int = 160) -> tuple[torch.Tensor, torch.Tensor]:
    """Source: dark noise; target: the same noise, brighter and inverted (a style shift)."""
    g = torch.Generator().manual_seed(0)
    x_s = torch.rand(n, 1, 28, 28, generator=g) - 1
    x_t = 0.5 - 0.5 * torch.rand(n, 1, 28, 28, generator=g)
    return x_s, x_t


def test_the_judge_tells_the_domains_apart_and_is_the_same_for_the_same_seed():
    x_s, x_t = _domains()
    a = train_domain_judge(x_s[:120], x_t[:120], "lenet", seed=3, steps=30, batch_size=16)
    b = train_domain_judge(x_s[:120], x_t[:120], "lenet", seed=3, steps=30, batch_size=16)
    assert not a.training
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    assert all(torch.equal(p, q) for p, q in pairs)
    assert judge_accuracy(a, x_s[120:], x_t[120:]) > 0.95


def test_dom_fid_falls_as_images_take_on_the_target_style():
    x_s, x_t = _domains()
    judge = train_domain_judge(x_s[:120], x_t[:120], "lenet", seed=0, steps=30, batch_size=16)
    torch.manual_seed(0)
    source_model = Classifier(Architecture("lenet", 1, 28, 10)).eval()
    labels = source_model(x_s[120:]).argmax(1)
    real = x_t[120:]

    def dom_fid(images: torch.Tensor) -> float:
        q = label_free_quality(source_model, images, labels, real, None, x_s[120:], judge)
        return q["dom_fid"]

    untranslated = dom_fid(x_s[120:])
    halfway = dom_fid(0.5 * x_s[120:] + 0.5 * x_t[:40])
    restyled = dom_fid(x_t[:40])  # other target images: the target style, perfectly
    assert restyled < halfway < untranslated
    assert "dom_fid" not in label_free_quality(source_model, real, labels, real, None, real)
