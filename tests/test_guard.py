"""The collapse guard end to end: a model built to collapse is never recommended, even though
the confidence-based validator scores it best."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import yaml

from gantl.checkpoint import load_classifier, save_checkpoint
from gantl.config import params_from_dict
from gantl.eval.guard import (
    CollapseLimits,
    collapse_reasons,
    confident_agreement,
    consensus,
    consensus_agreement,
    corroborated_agreement,
    divergence_reference,
    family,
    prediction_spread,
)
from gantl.stages.evaluate import evaluate
from gantl.stages.paths import seed_dir
from gantl.stages.prepare import prepare
from gantl.stages.pretrain import oracle, pretrain
from tests.conftest import TINY_PARAMS


def test_prediction_spread_of_balanced_and_collapsed_predictions():
    balanced = torch.eye(4).repeat(3, 1) * 10  # 12 confident predictions, 3 per class
    spread = prediction_spread(balanced)
    assert spread["top_class_share"] == 0.25
    assert spread["mean_pred_entropy"] == pytest.approx(math.log(4), abs=1e-3)
    collapsed = prediction_spread(torch.tensor([[10.0, 0, 0, 0]]).repeat(12, 1))
    assert collapsed["top_class_share"] == 1.0 and collapsed["mean_pred_entropy"] < 0.01
    reasons = collapse_reasons(collapsed, spread, prior_top=0.25, limits=CollapseLimits())
    assert len(reasons) == 2 and "100% of target images get one class" in reasons[1]
    assert collapse_reasons(spread, spread, 0.25, CollapseLimits()) == []


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("guard")
    params = params_from_dict(yaml.safe_load(TINY_PARAMS))
    prepared, models = root / "prepared", root / "models"
    prepare(params, prepared)
    pretrain(params, prepared, models / "source")
    oracle(params, prepared, models / "oracle")
    return root, params


def _evaluate(root, params, names):
    return evaluate(
        params,
        root / "prepared",
        root / "models",
        metrics=root / "metrics",
        plots=root / "plots",
        reports=root / "reports",
        names=names,
    )


def _save_adapted(models, name, model):
    manifest = {"stage": f"adapt@{name}", "metrics": {"best_epoch": 1}}
    save_checkpoint(seed_dir(models / name, 0) / "selected", model, manifest)


def test_a_collapsed_model_is_never_recommended(tiny):
    root, params = tiny
    models = root / "models"
    source, _ = load_classifier(seed_dir(models / "source", 0))
    collapsed = copy.deepcopy(source)
    with torch.no_grad():  # every target image → class 0, very confidently
        collapsed.head.parametrizations.weight.original0.zero_()  # w = g v/‖v‖ with g = 0
        collapsed.head.bias.zero_()
        collapsed.head.bias[0] = 30.0
    _save_adapted(models, "adda", collapsed)
    summary = _evaluate(root, params, ["source_only", "oracle", "adda"])
    adda, source_only = summary["results"]["adda"], summary["results"]["source_only"]
    # the confidence-based validator prefers the collapsed model …
    assert summary["validator"] == "neg_entropy"
    assert adda["validator_score_mean"] > source_only["validator_score_mean"]
    # … and the guard still never recommends it
    assert adda["collapsed"] and adda["top_class_share_mean"] == 1.0
    assert adda["agreement_reference"] == ["consensus"]  # collapsed: no corroborator
    assert summary["recommended"] == "source_only" and summary["adaptation_failed"]
    assert any(w.startswith("collapsed or diverged predictions: adda") for w in summary["warnings"])
    assert "adaptation failed on this pair" in summary["warnings"][-1]


def test_confident_agreement_by_hand():
    source_logits = torch.tensor([[5.0, 0], [0, 4], [1, 0], [0, 0.5]])  # surest: rows 0, 1
    reference, strength = consensus([source_logits])  # one voter: its own predictions
    assert reference.tolist() == [0, 1, 0, 1]
    assert torch.argsort(strength, descending=True)[:2].tolist() == [0, 1]
    assert confident_agreement(torch.tensor([0, 1, 1, 0]), reference, strength, 0.5) == 1.0
    assert confident_agreement(torch.tensor([1, 1, 0, 1]), reference, strength, 0.5) == 0.5
    assert confident_agreement(torch.tensor([1, 0, 0, 1]), reference, strength, 0.5) == 0.0
    spread = {"mean_pred_entropy": 1.0, "top_class_share": 0.5, "confident_agreement": 0.2}
    reasons = collapse_reasons(spread, spread, 0.5, CollapseLimits())
    assert len(reasons) == 1 and "classes swapped" in reasons[0]


def _one_hot_logits(labels: list[int], num_classes: int = 3, sure: float = 5.0) -> torch.Tensor:
    return sure * torch.nn.functional.one_hot(torch.tensor(labels), num_classes).float()


def test_consensus_votes_and_breaks_ties_by_the_anchor():
    a = _one_hot_logits([0, 1, 2, 0])
    b = _one_hot_logits([0, 2, 1, 1])
    c = _one_hot_logits([0, 2, 0, 2])
    labels, strength = consensus([a, b, c], anchor=a.argmax(1))
    # image 0: 3 votes for 0; image 1: 2 for 2; image 2: one each, the anchor's 2 wins;
    # image 3: one each, the anchor's 0 wins
    assert labels.tolist() == [0, 2, 2, 0]
    assert strength[0] > strength[1] > strength[2]
    two, _ = consensus([a, b], anchor=b.argmax(1))  # a tie of two goes to the anchor
    assert two.tolist() == b.argmax(1).tolist()


def test_a_wrong_source_only_gives_way_to_the_other_models_vote():
    """On a large shift source-only is mostly wrong, and its surest predictions too; no adapted
    model agrees with them, so the reference becomes the others' vote: three adapted models of
    different families that agree with one another (and the truth) pass, while a model with
    swapped classes is still flagged."""
    g = torch.Generator().manual_seed(0)
    truth = torch.randint(0, 10, (400,), generator=g)

    def model(accuracy: float, shift: int = 0) -> torch.Tensor:
        wrong = torch.rand(400, generator=g) > accuracy
        pred = torch.where(wrong, torch.randint(0, 10, (400,), generator=g), truth)
        logits = 4 * torch.nn.functional.one_hot((pred + shift) % 10, 10).float()
        return logits + torch.rand(400, 10, generator=g)  # confidence varies

    logits = {
        "source_only": model(0.3),
        "dann": model(0.9),
        "cdan": model(0.92),
        "adda": model(0.93),
        "cyclegan+adda": model(0.9, shift=1),  # every class moved to the next
    }
    limits = CollapseLimits()
    adapted = set(logits) - {"source_only"}
    alone = consensus_agreement(logits, "source_only", {"source_only"}, limits.confident_share)
    assert all(alone[name] < limits.min_agreement for name in adapted)
    agreement, reference = divergence_reference(
        logits, adapted, limits.confident_share, limits.min_agreement
    )
    assert set(reference.values()) == {"consensus"}
    for name in ("dann", "cdan", "adda"):
        assert agreement[name] >= limits.min_agreement, agreement
    assert agreement["cyclegan+adda"] < 0.2


def test_corroborated_agreement_by_hand():
    """Source-only's surest half (images 0–3) counts where the most agreeing corroborator of
    another family agrees with it; a model never corroborates its own family."""
    so = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    confidence = torch.tensor([9.0, 8, 7, 6, 1, 1, 1, 1])
    logits = {
        "source_only": 3 * torch.nn.functional.one_hot(so, 8).float()
        + confidence.unsqueeze(1) * torch.nn.functional.one_hot(so, 8),
        "adda": _one_hot_logits([0, 1, 2, 0, 0, 0, 0, 0], 8),  # agrees on 0, 1, 2
        "cdan": _one_hot_logits([0, 1, 0, 0, 4, 5, 6, 7], 8),  # on 0, 1
        "dann": _one_hot_logits([0, 1, 0, 3, 0, 0, 0, 0], 8),
        "dann+refine": _one_hot_logits([0, 1, 2, 3, 0, 0, 0, 0], 8),
    }
    agreement = corroborated_agreement(logits, "source_only", {"adda", "cdan", "dann"}, 0.5)
    assert agreement["dann"] == (pytest.approx(2 / 3), "adda")  # ADDA's 0, 1, 2, not CDAN's 0, 1
    assert agreement["dann+refine"] == (1.0, "adda")  # DANN, its family, cannot vouch
    assert agreement["cdan"] == (pytest.approx(2 / 3), "adda")
    assert agreement["adda"] == (pytest.approx(2 / 3), "dann")  # DANN's 0, 1, 3 (CDAN's: 2 of 4)
    alone = corroborated_agreement(logits, "source_only", set(), 0.5)  # no corroborator
    assert alone["dann"] == (0.75, None) and alone["adda"] == (0.75, None)


def test_source_only_stays_the_reference_while_an_adapted_model_agrees_with_it():
    """USPS shrunk and moved: DANN, DANN + refine (made from DANN) and CDAN share one wrong
    alignment; source-only is mostly right where it is surest, and ADDA keeps those predictions.
    Its agreement corroborates source-only, which stays the reference, counted where ADDA agrees
    with it. That reference is precise enough to ask 90 % of a model: the three are flagged
    (CDAN keeps 86 % of the images where source-only is sure), a good model passes."""
    g = torch.Generator().manual_seed(1)
    n = 800
    truth = torch.randint(0, 10, (n,), generator=g)
    swapped = torch.rand(n, generator=g) < 0.55  # where the aligned models share their error
    sure = torch.rand(n, generator=g) < 0.4  # where source-only is confident, and mostly right

    def logits_of(pred: torch.Tensor, boost: torch.Tensor | None = None) -> torch.Tensor:
        x = 4 * torch.nn.functional.one_hot(pred, 10).float() + torch.rand(n, 10, generator=g)
        if boost is not None:
            x = x + 4 * boost.float().unsqueeze(1) * torch.nn.functional.one_hot(pred, 10)
        return x

    def independent(accuracy: float) -> torch.Tensor:
        wrong = torch.rand(n, generator=g) > accuracy
        return torch.where(wrong, (truth + torch.randint(1, 10, (n,), generator=g)) % 10, truth)

    def aligned(kept: float) -> torch.Tensor:  # right on a `kept` share of the sure images
        right = sure & (torch.rand(n, generator=g) < kept)
        return torch.where(swapped & ~right, (truth + 1) % 10, truth)

    so_pred = torch.where(sure, independent(0.9), independent(0.35))
    logits = {
        "source_only": logits_of(so_pred, boost=sure),
        "adda": logits_of(torch.where(sure, independent(0.95), independent(0.5))),
        "dann": logits_of(aligned(0.6)),
        "dann+refine": logits_of(aligned(0.6)),
        "cdan": logits_of(aligned(0.75)),
        "cyclegan+adda": logits_of(independent(0.97)),  # a good model, independent of ADDA
    }
    assert family("dann+refine") == "dann" and family("source+t2s") == "source_only"
    limits = CollapseLimits()
    agreement, reference = divergence_reference(
        logits, set(logits) - {"source_only"}, limits.confident_share, limits.min_agreement
    )
    assert all(reference[m].startswith("corroborated:") for m in agreement)
    for name in ("adda", "cyclegan+adda"):
        assert agreement[name] >= limits.min_corroborated, (name, agreement)
    for name in ("dann", "dann+refine", "cdan"):
        assert agreement[name] < limits.min_corroborated, (name, agreement)
    spread = {"mean_pred_entropy": 2.3, "top_class_share": 0.1}
    for name, flagged in (("cdan", True), ("cyclegan+adda", False)):
        row = spread | {
            "confident_agreement": agreement[name],
            "agreement_reference": reference[name],
        }
        assert bool(collapse_reasons(row, spread, 0.11, limits)) is flagged


def test_the_only_corroborator_is_held_to_source_only_alone():
    """With one adapted model, nothing else can vouch for the images it agrees on: it is
    checked on source-only's surest quarter alone, at `min_agreement`, not at the stricter
    limit a corroborated reference earns (MNIST → MNIST-M: CycleGAN + ADDA, 86 % accurate,
    kept 88 % of that quarter)."""
    g = torch.Generator().manual_seed(2)
    n = 800
    truth = torch.randint(0, 10, (n,), generator=g)
    sure = torch.rand(n, generator=g) < 0.3
    so = torch.where(sure & (torch.rand(n, generator=g) < 0.9), truth, (truth + 3) % 10)
    adapted = torch.where(torch.rand(n, generator=g) < 0.95, truth, (truth + 1) % 10)
    logits = {
        "source_only": _one_hot_logits(so.tolist(), 10)
        + 4 * sure.float().unsqueeze(1) * (torch.nn.functional.one_hot(so, 10)),
        "cyclegan+adda": _one_hot_logits(adapted.tolist(), 10),
    }
    limits = CollapseLimits()
    agreement, reference = divergence_reference(
        logits, {"cyclegan+adda"}, limits.confident_share, limits.min_agreement
    )
    assert reference == {"cyclegan+adda": "source_only"}
    assert limits.min_agreement <= agreement["cyclegan+adda"] < limits.min_corroborated
    spread = {"mean_pred_entropy": 2.3, "top_class_share": 0.1}
    row = spread | {"confident_agreement": agreement["cyclegan+adda"]}
    assert not collapse_reasons(row | {"agreement_reference": "source_only"}, spread, 0.11, limits)


def test_source_only_s_own_family_cannot_corroborate_it():
    """A classifier trained on translated source images keeps source-only's errors (MNIST →
    MNIST-M: 97 % agreement on source-only's surest quarter, 88 % right there). It must not
    vouch for that quarter, or a well adapted model that fixes the errors is flagged."""
    assert family("cyclegan+source_only") == "source_only"
    assert family("pixelda+source_only+refine") == "source_only"
    assert family("cyclegan+adda") == "cyclegan+adda"
    g = torch.Generator().manual_seed(3)
    n = 800
    truth = torch.randint(0, 10, (n,), generator=g)
    sure = torch.rand(n, generator=g) < 0.3
    so = torch.where(torch.rand(n, generator=g) < 0.85, truth, (truth + 3) % 10)
    twin = torch.where(torch.rand(n, generator=g) < 0.97, so, truth)  # source-only's errors
    adapted = torch.where(torch.rand(n, generator=g) < 0.97, truth, (truth + 1) % 10)
    logits = {
        "source_only": _one_hot_logits(so.tolist(), 10)
        + 4 * sure.float().unsqueeze(1) * (torch.nn.functional.one_hot(so, 10)),
        "cyclegan+source_only": _one_hot_logits(twin.tolist(), 10),
        "adda": _one_hot_logits(adapted.tolist(), 10),
    }
    limits = CollapseLimits()
    ok = {"cyclegan+source_only", "adda"}
    agreement, reference = divergence_reference(
        logits, ok, limits.confident_share, limits.min_agreement
    )
    assert reference == {"adda": "source_only", "cyclegan+source_only": "corroborated:adda"}
    assert limits.min_agreement <= agreement["adda"] < limits.min_corroborated
    spread = {"mean_pred_entropy": 2.3, "top_class_share": 0.1}
    row = spread | {"confident_agreement": agreement["adda"], "agreement_reference": "source_only"}
    assert not collapse_reasons(row, spread, 0.11, limits)
