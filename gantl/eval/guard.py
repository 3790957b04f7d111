"""The guard: which model to recommend when no target label may be read.

A label-free validator can be fooled. Confidence-based scores (`neg_entropy`) reward a model
whose target predictions have collapsed onto a few classes, since a collapsed model is
confident. So before the validator's choice is trusted, each adapted model's target-val
predictions (images only, no labels) are checked against source-only's:

    collapsed  if  H(p̄_model) < entropy_ratio · H(p̄_source_only)
               or  top share > π_max + top_share · (1 − π_max)

where p̄ is the mean softmax prediction over target val, H its entropy (how many classes the
model still predicts), the top share is the fraction of target-val images given the most
predicted class, and π_max the largest class share of the labelled source train split (the
class prior the classifier learned). A model is collapsed when any of its seeds is.

Collapse is not the only silent failure: a model can spread its predictions over every class
and still have swapped them (on a large shift, adversarial alignment may match the wrong
clusters, and self-training then locks the swap in). Source-only's *most confident* target
predictions are far more accurate than its average (USPS digits shrunk and moved, seed 0: 63 %
of target val overall, 93 % on its surest quarter), and a model that adapted well keeps them.
They are the reference while at least one adapted model that did not collapse corroborates
them (agrees with `min_agreement` of them), and only the images where the corroborator agrees
count (96 % right on that shift). A model of source-only's own family (refined source-only, or
the source classifier trained on translated images) shares its errors and corroborates nothing.
The corroborator is the model of another family that agrees most with source-only: the one
least tied to the checked model's own alignment. On that shift
DANN, CDAN and DANN + refine shared one wrong alignment (46–47 % and 44 %): they kept 81 %,
88 % and 65 % of the corroborated images, ADDA (66 %) kept 97 %, and on MNIST → MNIST-M and
MNIST → USPS every model that beat source-only kept at least 94 %. So

    diverged   if  agreement on source-only's surest `confident_share` of target val, where
                   the corroborator agrees with it  <  min_corroborated

(a model that no other family corroborates, the sole adapted model say, is held to
source-only's surest share alone, at `min_agreement`).

When no adapted model corroborates source-only, source-only itself is the suspect: on USPS at a
third of the contrast with noise it is 32 % accurate, its surest predictions are wrong too, and
DANN, ADDA, CDAN and DANN + refine (88–95 %) agreed with them on only 69–73 %. Then the
reference is the majority vote of the *other* models that have not collapsed (source-only
included; ties go to source-only's class; one vote per family, so a refined model neither votes
on its base nor doubles its base's vote), on the `confident_share` of target-val images where
that vote is surest (most votes, then highest mean probability), and

    diverged   if  agreement with that vote  <  min_agreement

A vote is the fallback, not the rule: models that share one wrong alignment outvote the right
ones (on the shrunk digits, CDAN agreed with 99.5 % of the others' surest vote).

Then: recommend the adapted model the validator scores best among those neither collapsed nor
scored below source-only (negative transfer); when none is left, adaptation failed on this
pair, the summary says so plainly, and source-only is recommended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class CollapseLimits:
    entropy_ratio: float = 0.7  # H(p̄) below 70% of source-only's: whole classes have vanished
    top_share: float = 0.5  # one class takes over half the way from the prior's top share to 1
    confident_share: float = 0.25  # the reference's surest quarter of target val …
    min_agreement: float = 0.8  # … an adapted model agreeing this often corroborates source-only
    # (and passes, when the reference is the others' vote)
    min_corroborated: float = 0.9  # agreement needed where a corroborator agrees with source-only


def prediction_spread(logits: torch.Tensor) -> dict[str, float]:
    """How spread a model's target predictions are: the entropy of the mean prediction (nats)
    and the share of the most-predicted class."""
    p = torch.softmax(logits.double(), dim=1)
    mean = p.mean(0)
    entropy = float(-(mean * mean.clamp_min(1e-12).log()).sum())
    counts = torch.bincount(p.argmax(1), minlength=p.shape[1])
    return {"mean_pred_entropy": entropy, "top_class_share": float(counts.max()) / len(p)}


def prior_top_share(labels: torch.Tensor, num_classes: int) -> float:
    """π_max: the largest class share of a labelled split."""
    return float(torch.bincount(labels, minlength=num_classes).max()) / max(1, len(labels))


def consensus(
    logits: list[torch.Tensor], anchor: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The voters' majority class per image, and how sure that vote is.

    Each voter (N, C logits) casts one vote per image. Ties go to the anchor's class (its
    predictions, N), then to the higher mean probability. The strength ranks images by the
    votes for the chosen class, then by its mean probability: with one voter, by its confidence.
    """
    probs = torch.stack([torch.softmax(x.double(), dim=1) for x in logits])  # V, N, C
    num_classes = probs.shape[2]
    votes = torch.nn.functional.one_hot(probs.argmax(2), num_classes).sum(0).double()
    mean_prob = probs.mean(0)
    tally = votes + 0.25 * mean_prob  # a mean probability (≤ 1) only breaks ties
    if anchor is not None:
        tally = tally + 0.5 * torch.nn.functional.one_hot(anchor, num_classes)
    labels = tally.argmax(1)
    pick = labels.unsqueeze(1)
    strength = votes.gather(1, pick).squeeze(1) + 0.5 * mean_prob.gather(1, pick).squeeze(1)
    return labels, strength


def confident_agreement(
    predictions: torch.Tensor, reference: torch.Tensor, strength: torch.Tensor, share: float
) -> float:
    """How often `predictions` (N) match the `reference` labels on the `share` of the images
    where the reference is surest (highest `strength`)."""
    k = max(1, round(share * len(reference)))
    surest = torch.argsort(strength, descending=True, stable=True)[:k]
    return float((predictions[surest] == reference[surest]).double().mean())


DERIVED = ("+refine", "+t2s")  # suffixes of a model made from another one
CORROBORATED = "corroborated:"  # a reference: source-only where this model agrees with it
SOURCE_ONLY = "source_only"  # the baseline's name, its family's and a reference's


def family(name: str) -> str:
    """The model a name derives from: "dann+refine" → "dann", "source+t2s" → "source_only".

    A pixel + source-only model ("cyclegan+source_only") is source-only's family too: it is the
    source classifier trained on translated images, with no target alignment, and the semantic
    loss labels those translations with source-only's own predictions, so it keeps source-only's
    errors (MNIST → MNIST-M, `make run`: it agreed with 97 % of source-only's surest quarter, of
    which only 88 % were right).
    """
    while name.endswith(DERIVED):
        name = name.rsplit("+", 1)[0]
    return SOURCE_ONLY if name == "source" or name.endswith(f"+{SOURCE_ONLY}") else name


def consensus_agreement(
    logits: dict[str, torch.Tensor], anchor: str, voters: set[str], share: float
) -> dict[str, float]:
    """For each model but the anchor (source-only): its agreement with the consensus of the
    other voters, on the `share` of target-val images where their vote is surest.

    One vote per family: a refined or t2s model shares its base model's errors, so it neither
    votes on its own family nor adds a second vote for it (its base votes, or else the first of
    its family); otherwise two models of one family could outvote every independent one."""
    out = {}
    for name, own in logits.items():
        if name == anchor:
            continue
        representative: dict[str, str] = {}
        for v in sorted(voters, key=lambda v: (len(v), v)):  # a base before what derives from it
            if family(v) != family(name):
                representative.setdefault(family(v), v)
        # no other family left (source+t2s beside source-only alone): source-only is the reference
        others = [logits[v] for v in sorted(representative.values())] or [logits[anchor]]
        reference, strength = consensus(others, logits[anchor].argmax(1))
        out[name] = confident_agreement(own.argmax(1), reference, strength, share)
    return out


def corroborated_agreement(
    logits: dict[str, torch.Tensor], anchor: str, corroborators: set[str], share: float
) -> dict[str, tuple[float, str | None]]:
    """For each model but the anchor (source-only): its agreement with the anchor on the anchor's
    surest `share` of target-val images, counting only those where a corroborator agrees too.

    The corroborator is the model of another family that agrees most with the anchor there:
    the one least tied to the checked model's own alignment. Its agreement makes those images'
    labels nearly all right (shrunk and moved USPS digits: 93 % on source-only's surest
    quarter, 96 % where ADDA agrees), so a model that adapted well keeps almost all of them.
    With no corroborator of another family (the model is the only one), the anchor's surest
    share alone is the reference. Returns each model's agreement and its corroborator (None:
    none)."""
    anchor_pred = logits[anchor].argmax(1)
    confidence = torch.softmax(logits[anchor].double(), dim=1).max(1).values
    k = max(1, round(share * len(anchor_pred)))
    surest = torch.zeros_like(anchor_pred, dtype=torch.bool)
    surest[torch.argsort(confidence, descending=True, stable=True)[:k]] = True

    def agreement(pred: torch.Tensor, where: torch.Tensor) -> float:
        return float((pred[where] == anchor_pred[where]).double().mean())

    preds = {name: x.argmax(1) for name, x in logits.items()}
    out = {}
    for name, pred in preds.items():
        if name == anchor:
            continue
        others = sorted(c for c in corroborators if family(c) != family(name))
        where, best = surest, None
        if others:
            best = max(others, key=lambda c: agreement(preds[c], surest))
            where = surest & (preds[best] == anchor_pred)
        out[name] = (agreement(pred, where) if bool(where.any()) else 1.0, best)
    return out


def divergence_reference(
    logits: dict[str, torch.Tensor], spread_ok: set[str], share: float, min_agreement: float
) -> tuple[dict[str, float], dict[str, str]]:
    """Each adapted model's agreement with its reference, and which reference that was:
    "corroborated:<model>", "source_only" (its surest predictions alone) or "consensus".

    Source-only's surest predictions are the reference while at least one adapted model that
    did not collapse, and is not of source-only's family, agrees with them (`min_agreement`): an
    independent model corroborates them, and only the images where it does count
    (`corroborated_agreement`). When none does,
    source-only itself is the suspect (a shift large enough that its surest predictions are
    wrong too), and the reference becomes the other models' vote, one vote per family."""
    alone = consensus_agreement(logits, SOURCE_ONLY, {SOURCE_ONLY}, share)
    corroborators = {  # source-only's own family shares its errors: it cannot vouch for them
        name for name in spread_ok if alone[name] >= min_agreement and family(name) != SOURCE_ONLY
    }
    if corroborators:
        checked = corroborated_agreement(logits, SOURCE_ONLY, corroborators, share)
        agreement = {name: value for name, (value, _) in checked.items()}
        reference = {
            name: f"{CORROBORATED}{by}" if by else SOURCE_ONLY for name, (_, by) in checked.items()
        }
        return agreement, reference
    voters = {SOURCE_ONLY, *spread_ok}
    agreement = consensus_agreement(logits, SOURCE_ONLY, voters, share)
    return agreement, dict.fromkeys(agreement, "consensus")


def collapse_reasons(
    spread: dict[str, float], baseline: dict[str, float], prior_top: float, limits: CollapseLimits
) -> list[str]:
    """Why one seed's predictions count as collapsed (empty: they do not)."""
    reasons = []
    floor = limits.entropy_ratio * baseline["mean_pred_entropy"]
    if spread["mean_pred_entropy"] < floor:
        reasons.append(
            f"entropy of the mean prediction {spread['mean_pred_entropy']:.2f} nats < "
            f"{limits.entropy_ratio:g} × source-only's {baseline['mean_pred_entropy']:.2f}"
        )
    ceiling = prior_top + limits.top_share * (1 - prior_top)
    if spread["top_class_share"] > ceiling:
        reasons.append(
            f"{100 * spread['top_class_share']:.0f}% of target images get one class "
            f"(source prior's largest class: {100 * prior_top:.0f}%)"
        )
    agreement = spread.get("confident_agreement")
    corroborated = str(spread.get("agreement_reference", "")).startswith(CORROBORATED)
    limit = limits.min_corroborated if corroborated else limits.min_agreement
    if agreement is not None and agreement < limit:
        where = (
            f"source-only's surest predictions where "
            f"{spread['agreement_reference'].removeprefix(CORROBORATED)} agrees"
            if corroborated
            else "source-only's surest predictions"
            if spread.get("agreement_reference") == SOURCE_ONLY
            else "the other models' vote where it is surest"
        )
        reasons.append(
            f"agrees with the reference ({where}) on only {100 * agreement:.0f}% of it "
            f"(limit {100 * limit:.0f}%): classes swapped or lost"
        )
    return reasons


def guard(
    results: dict[str, Any], methods: list[str], validator: str
) -> tuple[str, list[str], bool]:
    """(recommended model, warnings, adaptation failed) from the evaluate stage's results.

    Marks `negative_transfer` and `collapsed` on each adapted result. A result's `collapse`
    entry (per-seed reasons, from `collapse_reasons`) says whether it collapsed.
    """
    baseline = results[SOURCE_ONLY]["validator_score_mean"]
    warnings, recommended, best = [], SOURCE_ONLY, baseline
    for method in methods:
        r = results[method]
        score = r["validator_score_mean"]
        r["negative_transfer"] = score < baseline
        r["collapsed"] = any(r.get("collapse", {}).values())
        if r["collapsed"]:
            seeds = {s: why for s, why in r["collapse"].items() if why}
            detail = "; ".join(f"seed {s}: {', '.join(why)}" for s, why in seeds.items())
            warnings.append(
                f"collapsed or diverged predictions: {method} is never recommended ({detail})"
            )
        elif r["negative_transfer"]:
            warnings.append(
                f"negative transfer: {validator} scores {method} ({score:.4f}) below source-only "
                f"({baseline:.4f}); source-only stays the recommended model"
            )
        elif score > best:
            recommended, best = method, score
    failed = bool(methods) and all(
        results[m]["collapsed"] or results[m]["negative_transfer"] for m in methods
    )
    if failed:
        warnings.append(
            "adaptation failed on this pair: every adapted model collapsed or scored below "
            "source-only, so source-only is recommended"
        )
    return recommended, warnings, failed
