"""Validate-and-keep-best: label-free checkpoint choice during adaptation.

After every `validate_every` epochs (and after the last) the model is scored by each validator
of gantl.eval.validators on held-out data (source val with labels, target val *without*
labels); the weights each validator prefers are kept. Target-val labels pick one more
checkpoint, the upper bound, which is reported beside the honest number and never used by
training or by the validator's choice.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from gantl.config import AdaptConfig
from gantl.eval.metrics import accuracy
from gantl.eval.validators import ValidationInputs, score_all
from gantl.models.classifier import Classifier
from gantl.training.data import AdaptationData

log = logging.getLogger("gantl")
LOGGED = ("loss", "domain_acc", "target_val_acc", "div")  # history keys worth a log line
UPPER_BOUND = "target_val_acc"  # the one "validator" that reads target labels
TRACED_TEST = "target_test_acc"  # adapt.trace_test: recorded in the history, never a choice


def fit_rows(n: int, samples: int, seed: int) -> torch.Tensor:
    """The source-train rows that fit the IWV/DEV domain classifier: `samples` of `n`, seeded."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:samples]


@torch.no_grad()
def features_and_logits(
    model: Classifier, x: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """F(x) and C(F(x)) in batches of 512 on `device`, returned on the CPU (mode unchanged)."""
    feats, logits = [], []
    for i in range(0, len(x), 512):
        f = model.features(x[i : i + 512].to(device))
        feats.append(f.cpu())
        logits.append(model.head(f).cpu())
    return torch.cat(feats), torch.cat(logits)


def validate(
    model: Classifier, data: AdaptationData, rows: torch.Tensor, device: torch.device, seed: int
) -> dict[str, float]:
    """Every validator's score (higher is better) and the target-val accuracy upper bound.

    rows: source-train rows for the validators that weigh source features (`fit_rows`).
    """
    was_training = model.training
    model.eval()
    f_s_val, logits_s_val = features_and_logits(model, data.x_s_val, device)
    f_t, logits_t = features_and_logits(model, data.x_t_val, device)
    f_s_train, _ = features_and_logits(model, data.x_s[rows], device)
    model.train(was_training)
    inputs = ValidationInputs(
        logits_s_val=logits_s_val,
        y_s_val=data.y_s_val,
        logits_t=logits_t,
        features_s_train=f_s_train,
        features_s_val=f_s_val,
        features_t=f_t,
    )
    scores = score_all(inputs, seed=seed)
    if data.y_t_val is not None:
        scores[UPPER_BOUND] = accuracy(data.y_t_val, logits_t.argmax(1))
    return scores


def validator_scores(
    model: Classifier, data: AdaptationData, adapt: AdaptConfig, device: torch.device, seed: int
) -> dict[str, float]:
    """`validate` on the `adapt.validation_samples` source rows that seed `seed` draws: the one
    scoring that adaptation, the evaluate stage and the champion decision share."""
    return validate(
        model, data, fit_rows(len(data.x_s), adapt.validation_samples, seed), device, seed
    )


@dataclass
class CheckpointPicker:
    """Keeps, for each validator, the best-scoring epoch and a CPU copy of its weights."""

    best: dict[str, tuple[float, int, dict]] = field(default_factory=dict)

    def offer(self, epoch: int, scores: dict[str, float], model: nn.Module) -> None:
        snapshot = None
        for name, score in scores.items():
            if math.isnan(score):
                continue
            if name not in self.best or score > self.best[name][0]:
                if snapshot is None:
                    snapshot = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
                self.best[name] = (score, epoch, snapshot)

    def epoch(self, name: str) -> int:
        return self.best[name][1]

    def weights(self, name: str) -> dict:
        return self.best[name][2]


@dataclass(frozen=True)
class AdaptResult:
    selected: Classifier  # weights the configured validator chose (the honest number)
    upper_bound: Classifier | None  # weights target-val labels chose (reported as such)
    validator: str
    picks: dict[str, int]  # validator → the epoch it would choose
    history: list[dict]  # per epoch: mean losses and every validator's score
    device: str
    seconds: float


class KeepBest:
    """The validate-and-keep-best half of an adaptation loop.

    A method's loop trains one epoch, then calls `end_epoch(epoch, model, losses)`: every
    `adapt.validate_every` epochs and after the last, the model is scored and offered to the
    picker (scoring refits the IWV/DEV domain classifier, so long schedules validate every few
    epochs), and logged at once, so that a watcher sees the run progress as it happens.
    `result(model)` returns the validator's and the upper bound's checkpoints.
    """

    def __init__(
        self, data: AdaptationData, adapt: AdaptConfig, epochs: int, device: torch.device, seed: int
    ) -> None:
        self.data, self.adapt, self.epochs = data, adapt, epochs
        self.device, self.seed = device, seed
        self.picker = CheckpointPicker()
        self.history: list[dict] = []
        self.start = self._epoch_start = time.perf_counter()

    def end_epoch(self, epoch: int, model: Classifier, losses: dict[str, float]) -> None:
        scores: dict[str, float] = {}
        if epoch % self.adapt.validate_every == 0 or epoch == self.epochs:
            scores = validator_scores(model, self.data, self.adapt, self.device, self.seed)
            self.picker.offer(epoch, scores, model)
            if self.data.y_t_test is not None:  # recorded after the offer: never a choice
                scores = scores | {TRACED_TEST: self._test_accuracy(model)}
        seconds = time.perf_counter() - self._epoch_start
        record = {"epoch": epoch, **losses, **scores, "seconds": seconds}
        self.history.append(record)
        if scores:
            self._log(record)
        self._epoch_start = time.perf_counter()

    def _log(self, record: dict[str, float]) -> None:
        """One line per validated epoch: its losses, accuracies and the validator's score."""
        validator = self.adapt.validator
        logged = "  ".join(f"{k} {v:.3f}" for k, v in record.items() if k.endswith(LOGGED))
        log.info(
            "  epoch %d/%d  %s  %s=%.4f  (%.1fs)",
            *(record["epoch"], self.epochs, logged, validator, record.get(validator, math.nan)),
            record["seconds"],
        )

    def _test_accuracy(self, model: Classifier) -> float:
        was_training = model.training
        model.eval()
        _, logits = features_and_logits(model, self.data.x_t_test, self.device)
        model.train(was_training)
        return accuracy(self.data.y_t_test, logits.argmax(1))

    def result(self, model: Classifier) -> AdaptResult:
        final = model.cpu()
        validator = self.adapt.validator
        if validator not in self.picker.best:
            raise ValueError(
                f"validator {validator!r} gave no finite score in {self.epochs} epoch(s)"
            )
        chosen = {name: self._with_weights(final, name) for name in (validator, UPPER_BOUND)}
        return AdaptResult(
            selected=chosen[validator],
            upper_bound=chosen[UPPER_BOUND],
            validator=validator,
            picks={name: self.picker.epoch(name) for name in self.picker.best},
            history=self.history,
            device=str(self.device),
            seconds=time.perf_counter() - self.start,
        )

    def _with_weights(self, model: Classifier, name: str) -> Classifier | None:
        if name not in self.picker.best:
            return None
        chosen = copy.deepcopy(model)
        chosen.load_state_dict(self.picker.weights(name))
        return chosen.eval()
