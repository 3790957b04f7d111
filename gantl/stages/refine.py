"""The refine stage: target self-training (gantl/methods/refine.py) from an adapted model.

refine@<model> starts from each seed's validator-selected checkpoint of models/<model> (or the
source-only model, "source"), trains on the unlabelled target train images alone and writes
models/<model>+refine/seed_<k>/{selected,upper_bound}/, chosen as every adapted model is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gantl.checkpoint import input_hashes, load_classifier
from gantl.config import REFINED, Params
from gantl.io import atomic_dir
from gantl.methods.refine import train_refine
from gantl.progress import progress_bar
from gantl.stages.curves import live_dir, write_manifest_curves
from gantl.stages.inputs import load_adaptation_data
from gantl.stages.manifest import manifest
from gantl.stages.paths import (
    BASELINES,
    MODELS,
    PREPARED,
    ROLES,
    checkpoint_dir,
    seed_dir,
    split_path,
)
from gantl.stages.picks import log_pick, picks_metrics, save_picks
from gantl.training.batches import shuffled_steps
from gantl.training.budget import resolve_epochs


def refine(
    params: Params, model: str, prepared: Path = PREPARED, models: Path = MODELS
) -> dict[int, dict[str, Any]]:
    """Self-train each seed's `model` on the target; write models/<model>+refine/."""
    name = next((n for n, folder in BASELINES.items() if folder == model), model)
    data = load_adaptation_data(prepared, with_target_test=params.adapt.trace_test)
    cfg = resolve_epochs(params.refine, shuffled_steps(len(data.x_t), params.refine.batch_size))
    paths = {
        f"{r}/{s}.parquet": split_path(prepared, r, s) for r in ROLES for s in ("train", "val")
    }
    inputs = input_hashes(paths)
    seeds = params.experiment.seeds
    total = len(seeds) * cfg.epochs * shuffled_steps(len(data.x_t), cfg.batch_size)
    manifests = {}
    with (
        progress_bar(total, f"refine ({model})") as bar,
        atomic_dir(Path(models) / f"{model}{REFINED}") as tmp,
    ):
        for seed in seeds:
            start, start_manifest = load_classifier(checkpoint_dir(models, name, seed))
            result = train_refine(start, data, cfg, params.adapt, seed, bar.advance)
            log_pick(f"refine {model}", seed, result)
            manifests[seed] = manifest(
                stage=f"refine@{model}",
                method=f"{model}{REFINED}",
                params={"refine": cfg.model_dump(), "adapt": params.adapt.model_dump()},
                inputs={**inputs, "start_model": start_manifest["weights_sha256"]},
                seed=seed,
                device=result.device,
                seconds=result.seconds,
                metrics=picks_metrics(result),
            )
            save_picks(result, manifests[seed], seed_dir(tmp, seed))
    write_manifest_curves(live_dir(models, "refine", f"{model}{REFINED}"), manifests)
    return manifests
