"""FID and KID on cases with known answers; label preservation with a known classifier; the
label-free figures that choose a translator's epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gantl.eval.gan_metrics import (
    frechet_distance,
    kernel_inception_distance,
    label_free_quality,
    label_free_score,
    translation_quality,
)
from gantl.models.classifier import Architecture, Classifier


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 2))
    b = rng.normal(size=(20000, 2)) * 2 + np.array([3.0, 0.0])
    # N(0, I) vs N((3, 0), 4I): 9 + Tr(I + 4I − 2·2I) = 9 + 2 = 11
    assert frechet_distance(a, b) == pytest.approx(11.0, rel=0.03)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="2 rows"):
        frechet_distance(a[:1], b)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
    same, _ = kernel_inception_distance(a, b, n_subsets=5, subset_size=500)
    near, _ = kernel_inception_distance(a, b + 0.5, n_subsets=5, subset_size=500)
    far, _ = kernel_inception_distance(a, b + 2.0, n_subsets=5, subset_size=500)
    assert abs(same) < 0.05 < near < far


def test_translation_quality_reports_label_preservation():
    torch.manual_seed(0)
    judge = Classifier(Architecture("lenet", 1, 28, 10)).eval()
    x = torch.randn(60, 1, 28, 28)
    labels = judge(x).argmax(1)
    q = translation_quality(judge, x, labels, torch.randn(60, 1, 28, 28) + 0.5)
    assert q["label_preservation"] == 1.0
    assert q["fid"] > 0 and set(q) == {"fid", "kid", "kid_std", "label_preservation"}
    assert translation_quality(judge, x, (labels + 1) % 10, x)["label_preservation"] == 0.0


def test_label_free_quality_reads_the_source_model_and_the_reconstruction():
    torch.manual_seed(0)
    source_model = Classifier(Architecture("lenet", 1, 28, 10)).eval()
    x = torch.randn(60, 1, 28, 28)
    labels = source_model(x).argmax(1)
    real = torch.randn(60, 1, 28, 28) + 0.5
    same = label_free_quality(source_model, x, labels, real, reconstructed=x, originals=x)
    assert same["src_agreement"] == 1.0 and same["cycle_l1"] == 0.0 and same["src_fid"] > 0
    blurred = label_free_quality(source_model, x, (labels + 1) % 10, real, x + 0.25, x)
    assert blurred["src_agreement"] == 0.0
    assert blurred["cycle_l1"] == pytest.approx(0.25)


def test_label_free_score_keeps_the_labels_first_then_the_closest_to_the_target():
    untranslated = {"src_agreement": 0.99, "src_fid": 80.0, "dom_fid": 200.0}
    assert label_free_score(untranslated, untranslated) == pytest.approx(0.5)  # s = 1
    near = {"src_agreement": 0.95, "src_fid": 90.0, "dom_fid": 10.0}  # within 5 points
    nearer_less_agreed = {"src_agreement": 0.945, "src_fid": 90.0, "dom_fid": 8.0}
    assert label_free_score(near, untranslated) == pytest.approx(1 / 1.05)
    # among epochs that keep the labels, agreement noise does not outvote the judge
    assert label_free_score(nearer_less_agreed, untranslated) > label_free_score(near, untranslated)
    # one that loses them ranks below every one that keeps them, however target-like
    swapped = {"src_agreement": 0.80, "src_fid": 5.0, "dom_fid": 1.0}
    assert label_free_score(swapped, untranslated) == pytest.approx(0.80 - 0.99)
    assert (
        label_free_score(swapped, untranslated)
        < 0
        < label_free_score({"src_agreement": 0.96, "dom_fid": 400.0, "src_fid": 1.0}, untranslated)
    )
    # and among those, the one that loses fewest
    worse = swapped | {"src_agreement": 0.70}
    assert label_free_score(worse, untranslated) < label_free_score(swapped, untranslated)


def test_without_a_domain_judge_the_source_classifier_fid_measures_the_distance():
    untranslated = {"src_agreement": 0.99, "src_fid": 80.0}
    restyled = {"src_agreement": 0.97, "src_fid": 20.0, "dom_fid": 5.0}
    assert label_free_score(restyled, untranslated) == pytest.approx(1 / 1.25)
