"""The adapt stage: adapt each seed's source model to the target with one method.

A method is "dann", "adda", "cdan" (feature level; `gantl/methods/<method>.py`, imported by name
so the stage depends on that algorithm file alone), or "<gan>+<method>" (pixel + feature, CyCADA's
recipe): the classifier is first trained on the translated source images (`pretrain` settings,
selected on translated source val), then <method> runs from it with the translated images as
its source; "<gan>+source_only" stops after the first step.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gantl.checkpoint import input_hashes, load_classifier, save_checkpoint
from gantl.config import Params, parse_method
from gantl.io import atomic_dir
from gantl.methods.source_only import TrainResult, train_classifier
from gantl.progress import progress_bar
from gantl.stages.curves import live_dir, write_manifest_curves
from gantl.stages.inputs import load_adaptation_data
from gantl.stages.manifest import manifest
from gantl.stages.paths import MODELS, PREPARED, ROLES, TRANSLATED, seed_dir, split_path
from gantl.stages.picks import log_pick, picks_metrics, save_picks
from gantl.training.batches import shuffled_steps
from gantl.training.budget import resolve_epochs
from gantl.training.data import AdaptationData
from gantl.training.selection import AdaptResult

log = logging.getLogger("gantl")


@dataclass(frozen=True)
class AdaptRun:
    """One adapt stage's method, data and inputs, shared by its seeds."""

    params: Params
    method: str  # "dann", "cyclegan+adda", …
    gan: str | None  # the translator of a pixel + feature method
    base: str  # the feature-level method (or source_only)
    data: AdaptationData
    inputs: dict[str, str | None]  # SHA-256 of the Parquet splits read
    models: Path
    on_step: Callable[[], None]


def adapt(
    params: Params,
    method: str,
    prepared: Path = PREPARED,
    models: Path = MODELS,
    translated: Path = TRANSLATED,
) -> dict[int, dict[str, Any]]:
    """Adapt the source model of each seed with `method`; write models/<method>/seed_<k>/."""
    gan, base = parse_method(method)
    data = load_adaptation_data(
        prepared,
        translated=Path(translated) / gan if gan else None,
        mix=params.adapt.pixel_source == "both",
        with_target_test=params.adapt.trace_test,
    )
    params = _resolved(params, base, gan, data)
    paths = {
        f"{r}/{s}.parquet": split_path(prepared, r, s) for r in ROLES for s in ("train", "val")
    }
    if gan:
        paths |= {
            f"translated/{gan}/{s}.parquet": Path(translated) / gan / f"{s}.parquet"
            for s in ("train", "val")
        }
    with (
        progress_bar(_total_steps(params, base, gan, data), f"adapt ({method})") as bar,
        atomic_dir(Path(models) / method) as tmp,
    ):
        run = AdaptRun(params, method, gan, base, data, input_hashes(paths), models, bar.advance)
        records = {
            seed: adapt_seed(run, seed, seed_dir(tmp, seed)) for seed in params.experiment.seeds
        }
    write_manifest_curves(live_dir(models, "adapt", method), records)
    return records


def adapt_seed(run: AdaptRun, seed: int, out: Path) -> dict[str, Any]:
    """Adapt seed `seed`'s source model; save the validator's and the upper bound's picks."""
    params, base = run.params, run.base
    source_model, source = load_classifier(seed_dir(Path(run.models) / "source", seed))
    source_hash = source["weights_sha256"]
    if run.gan:
        log.info("adapt %s seed %d: classifier on %s-translated source", run.method, seed, run.gan)
        trained = train_classifier(
            source_model.arch,
            (run.data.x_s, run.data.y_s),
            (run.data.x_s_val, run.data.y_s_val),
            params.pretrain,
            seed,
            on_step=run.on_step,
            epoch_rows=run.data.source_epoch_rows,
            runtime=params.runtime,
        )
        if base == "source_only":
            return _save_pixel_classifier(run, trained, seed, out)
        source_model, source_hash = trained.model, None
    log.info("adapt %s seed %d: from %s", run.method, seed, run.gan or "models/source")
    cfg = getattr(params, base)
    train = getattr(importlib.import_module(f"gantl.methods.{base}"), f"train_{base}")
    result: AdaptResult = train(source_model, run.data, cfg, params.adapt, seed, run.on_step)
    log_pick(f"adapt {run.method}", seed, result)
    record = manifest(
        stage=f"adapt@{run.method}",
        method=run.method,
        params={base: cfg.model_dump(), "adapt": params.adapt.model_dump()}
        | ({"pretrain": params.pretrain.model_dump()} if run.gan else {}),
        inputs={**run.inputs, "source_model": source_hash},
        seed=seed,
        device=result.device,
        seconds=result.seconds,
        metrics=picks_metrics(result),
    )
    save_picks(result, record, out)
    return record


def _save_pixel_classifier(run: AdaptRun, trained: TrainResult, seed: int, out: Path) -> dict:
    """ "<gan>+source_only": the classifier trained on translated source images, as it is."""
    record = manifest(
        stage=f"adapt@{run.method}",
        method=run.method,
        params={
            "pretrain": run.params.pretrain.model_dump(),
            "adapt": run.params.adapt.model_dump(),
        },
        inputs=run.inputs,
        seed=seed,
        device=trained.device,
        seconds=trained.seconds,
        metrics={
            "best_epoch": trained.best_epoch,
            "source_val_acc": trained.best_val_acc,
            "history": trained.history_dicts(),
        },
    )
    save_checkpoint(out / "selected", trained.model, record)
    return record


def _resolved(params: Params, base: str, gan: str | None, data: AdaptationData) -> Params:
    """`params` with the `epochs: auto` of the sections this run trains turned into epochs."""
    update = {}
    if base != "source_only":
        cfg = getattr(params, base)
        update[base] = resolve_epochs(cfg, data.steps_per_epoch(cfg.batch_size))
    if gan:
        cfg = params.pretrain
        steps = shuffled_steps(data.source_epoch_rows, cfg.batch_size)
        update["pretrain"] = resolve_epochs(cfg, steps)
    return params.model_copy(update=update)


def _total_steps(params: Params, base: str, gan: str | None, data: AdaptationData) -> int:
    """Optimisation steps of the whole stage, for the progress bar."""
    seeds = len(params.experiment.seeds)
    steps = 0
    if base != "source_only":
        cfg = getattr(params, base)
        steps += seeds * cfg.epochs * data.steps_per_epoch(cfg.batch_size)
    if gan:
        cfg = params.pretrain
        steps += seeds * cfg.epochs * shuffled_steps(data.source_epoch_rows, cfg.batch_size)
    return steps
