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
    assert summary["recommended"] == "source_only" and summary["adaptation_failed"]
    assert any(w.startswith("collapsed or diverged predictions: adda") for w in summary["warnings"])
    assert "adaptation failed on this pair" in summary["warnings"][-1]


def test_confident_agreement_by_hand():
    source_logits = torch.tensor([[5.0, 0], [0, 4], [1, 0], [0, 0.5]])  # surest: rows 0, 1
    assert confident_agreement(torch.tensor([0, 1, 1, 0]), source_logits, 0.5) == 1.0
    assert confident_agreement(torch.tensor([1, 1, 0, 1]), source_logits, 0.5) == 0.5
    assert confident_agreement(torch.tensor([1, 0, 0, 1]), source_logits, 0.5) == 0.0
    spread = {"mean_pred_entropy": 1.0, "top_class_share": 0.5, "confident_agreement": 0.2}
    reasons = collapse_reasons(spread, spread, 0.5, CollapseLimits())
    assert len(reasons) == 1 and "classes swapped" in reasons[0]


def test_a_model_with_swapped_classes_is_never_recommended(tiny):
    """Spread over every class and more confident than source-only, but each class moved to
    the next: only the agreement with source-only's surest predictions catches it."""
    root, params = tiny
    models = root / "models"
    source, _ = load_classifier(seed_dir(models / "source", 0))
    swapped = copy.deepcopy(source)
    head = swapped.head
    with torch.no_grad():  # class k's weights answer for class k + 1, and a little surer
        g, v = head.parametrizations.weight.original0, head.parametrizations.weight.original1
        g.copy_(1.3 * g.roll(1, 0))
        v.copy_(v.roll(1, 0))
        head.bias.copy_(1.3 * head.bias.roll(1, 0))
    _save_adapted(models, "cdan", swapped)
    summary = _evaluate(root, params, ["source_only", "oracle", "cdan"])
    cdan, source_only = summary["results"]["cdan"], summary["results"]["source_only"]
    assert cdan["validator_score_mean"] > source_only["validator_score_mean"]
    assert cdan["target_acc_mean"] < source_only["target_acc_mean"]
    assert cdan["collapsed"] and cdan["confident_agreement_mean"] == 0.0
    assert summary["recommended"] == "source_only" and summary["adaptation_failed"]
    # its spread is source-only's own (the tiny source model already favours one class) …
    assert cdan["top_class_share_mean"] == source_only["top_class_share_mean"]
    # … so what tells it apart is the agreement
    assert "classes swapped" in cdan["collapse"][0][-1]
