"""What DANN and ADDA share: balanced source/target batches and label-free checkpoint choice.

After every `validate_every` epochs (and after the last) the model is scored by each validator
of gantl.eval.validators on held-out data (source val with labels, target val *without*
labels); the weights each validator prefers are kept. Target-val labels pick one more
checkpoint, the upper bound, which is reported beside the honest number and never used by
training or by the validator's choice.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from gantl.config import AdaptConfig
from gantl.eval.metrics import accuracy
from gantl.eval.validators import ValidationInputs, score_all
from gantl.models.classifier import Classifier

UPPER_BOUND = "target_val_acc"  # the one "validator" that reads target labels


@dataclass(frozen=True)
class AdaptationData:
    """Tensors of one adaptation run (x: N×C×H×W in [−1, 1])."""

    x_s: torch.Tensor  # labelled source train
    y_s: torch.Tensor
    x_t: torch.Tensor  # target train: images only, its labels never reach this object
    x_s_val: torch.Tensor
    y_s_val: torch.Tensor
    x_t_val: torch.Tensor
    y_t_val: torch.Tensor | None  # only for the upper-bound pick


def balanced_batches(
    sizes: Sequence[int], batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, ...]]:
    """One epoch of index batches, one of `batch_size` rows per domain, over the largest domain.

    Smaller domains are reshuffled and cycled, so every step sees batch_size images of each.
    """
    steps = max(1, max(sizes) // batch_size)
    streams = []
    for n in sizes:
        reps = math.ceil(steps * batch_size / n)
        order = torch.cat([torch.randperm(n, generator=generator) for _ in range(reps)])
        streams.append(order[: steps * batch_size].view(steps, batch_size))
    yield from zip(*streams, strict=True)


def paired_batches(
    n_s: int, n_t: int, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(source idx, target idx) batches of equal size: `balanced_batches` of two domains."""
    yield from balanced_batches((n_s, n_t), batch_size, generator)  # type: ignore[misc]


def steps_per_epoch(n_s: int, n_t: int, batch_size: int) -> int:
    return max(1, max(n_s, n_t) // batch_size)


def train_without_dropout(module: nn.Module) -> nn.Module:
    """Train mode (batch norm follows the batch) with dropout off: used where a discriminator
    must not learn to tell noisy features from clean ones."""
    module.train()
    for m in module.modules():
        if isinstance(m, nn.Dropout | nn.Dropout2d):
            m.eval()
    return module


@torch.no_grad()
def _run(model: Classifier, x: torch.Tensor, device: torch.device, batch: int = 512):
    feats, logits = [], []
    for i in range(0, len(x), batch):
        f = model.features(x[i : i + batch].to(device))
        feats.append(f.cpu())
        logits.append(model.head(f).cpu())
    return torch.cat(feats), torch.cat(logits)


def validate(
    model: Classifier, data: AdaptationData, fit_rows: torch.Tensor, device: torch.device, seed: int
) -> dict[str, float]:
    """Every validator's score (higher is better) and the target-val accuracy upper bound."""
    was_training = model.training
    model.eval()
    f_s_val, logits_s_val = _run(model, data.x_s_val, device)
    f_t, logits_t = _run(model, data.x_t_val, device)
    f_s_train, _ = _run(model, data.x_s[fit_rows], device)
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


def run_epochs(
    model: Classifier,
    data: AdaptationData,
    epochs: int,
    train_epoch: Callable[[int], dict[str, float]],
    adapt: AdaptConfig,
    device: torch.device,
    seed: int,
    eval_model: Callable[[], Classifier] | None = None,
) -> AdaptResult:
    """Call `train_epoch(epoch)` `epochs` times; every `adapt.validate_every` epochs and after the
    last, score the model and offer its weights to the checkpoint picker. Scoring is not free (the
    IWV/DEV domain classifier is refit each time), so long schedules validate every few epochs.

    `eval_model` returns the classifier to score (default: `model`), for methods that train a
    part of it.
    """
    eval_model = eval_model or (lambda: model)
    g = torch.Generator().manual_seed(seed)
    fit_rows = torch.randperm(len(data.x_s), generator=g)[: adapt.validation_samples]
    picker, history = CheckpointPicker(), []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        losses = train_epoch(epoch)
        scores: dict[str, float] = {}
        if epoch % adapt.validate_every == 0 or epoch == epochs:
            scores = validate(eval_model(), data, fit_rows, device, seed)
            picker.offer(epoch, scores, eval_model())
        history.append({"epoch": epoch, **losses, **scores, "seconds": time.perf_counter() - t0})
    final = eval_model().cpu()
    validator = adapt.validator
    if validator not in picker.best:
        raise ValueError(f"validator {validator!r} gave no finite score in {epochs} epoch(s)")
    selected = copy.deepcopy(final)
    selected.load_state_dict(picker.weights(validator))
    upper = None
    if UPPER_BOUND in picker.best:
        upper = copy.deepcopy(final)
        upper.load_state_dict(picker.weights(UPPER_BOUND))
    return AdaptResult(
        selected=selected.eval(),
        upper_bound=None if upper is None else upper.eval(),
        validator=validator,
        picks={name: picker.epoch(name) for name in picker.best},
        history=history,
        device=str(device),
        seconds=time.perf_counter() - start,
    )
