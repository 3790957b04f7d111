"""The pretrain and oracle stages: one classifier per seed on one domain's labels.

pretrain: F_s + C on source labels, selected on source val (the source-only baseline).
oracle: the same network on target labels, the upper bound every report shows.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gantl.checkpoint import input_hashes, save_checkpoint
from gantl.config import Params, RuntimeConfig, TrainConfig
from gantl.data.store import read_split
from gantl.errors import ConfigError, DataError
from gantl.io import atomic_dir
from gantl.methods.source_only import EpochRecord, train_classifier
from gantl.models.classifier import Architecture, choose_model
from gantl.models.resnet import RESNETS
from gantl.progress import progress_bar
from gantl.stages.curves import live_dir, write_manifest_curves
from gantl.stages.manifest import manifest
from gantl.stages.paths import MODELS, PREPARED, seed_dir, split_path
from gantl.training.batches import shuffled_steps
from gantl.training.budget import resolve_epochs

log = logging.getLogger("gantl")
BASELINE = {"pretrain": "source_only", "oracle": "oracle"}  # the model each stage trains


def pretrain(params: Params, prepared: Path = PREPARED, out: Path = MODELS / "source") -> dict:
    """Source classifier F_s + C on labelled source train, per seed; selected on source val."""
    seeds = params.experiment.seeds
    return train_stage("pretrain", "source", params.pretrain, seeds, prepared, out, params.runtime)


def oracle(params: Params, prepared: Path = PREPARED, out: Path = MODELS / "oracle") -> dict:
    """The same network on target labels: the upper bound every report shows."""
    seeds = params.experiment.seeds
    return train_stage("oracle", "target", params.oracle, seeds, prepared, out, params.runtime)


def architecture(cfg: TrainConfig, meta: dict[str, Any]) -> Architecture:
    """The network `cfg` asks for, sized to a split's images and classes."""
    h, _, c = meta["shape"]
    name = choose_model(cfg.model, c, h)
    if cfg.pretrained != "none" and name not in RESNETS:
        raise ConfigError(
            f"pretrained: {cfg.pretrained!r} weights are for ResNets, but model {cfg.model!r} "
            f"is {name} for {h}-px images; set model: resnet18 or resnet50"
        )
    return Architecture(
        name=name,
        in_channels=c,
        image_size=h,
        num_classes=len(meta["class_names"]),
        width=cfg.width,
        bottleneck=cfg.bottleneck,
        head=cfg.head,
        backbone_lr=cfg.backbone_lr if cfg.pretrained != "none" else 1.0,
    )


def train_stage(
    stage: str,
    role: str,
    cfg: TrainConfig,
    seeds: list[int],
    prepared: Path,
    out: Path,
    runtime: RuntimeConfig | None = None,
) -> dict[int, dict[str, Any]]:
    """Train and save one classifier per seed on `role`'s labelled train split."""
    paths = {split: split_path(prepared, role, split) for split in ("train", "val")}
    train, val = read_split(paths["train"]), read_split(paths["val"])
    if not (train.has_labels and val.has_labels):
        raise DataError(
            f"{paths['train']}: {stage} trains on {role} labels, but this {role} domain "
            f"({train.meta['spec']}) is unlabelled"
        )
    cfg = resolve_epochs(cfg, shuffled_steps(len(train), cfg.batch_size))
    arch = architecture(cfg, train.meta)
    log.info(
        "%s: %s on %d %s images (%s)", stage, arch.name, len(train), role, train.meta["domain"]
    )
    total = len(seeds) * cfg.epochs * shuffled_steps(len(train), cfg.batch_size)
    inputs = input_hashes({f"{role}/{k}.parquet": p for k, p in paths.items()})
    trained_on = {"role": role, "domain": train.meta["domain"], "spec": train.meta["spec"]}
    manifests = {}

    def report(r: EpochRecord) -> None:
        log.info(
            "  epoch %d/%d  loss %.4f  train acc %.4f  val acc %.4f  (%.1fs)",
            *(r.epoch, cfg.epochs, r.train_loss, r.train_acc, r.val_acc, r.seconds),
        )

    with progress_bar(total, f"{stage} ({arch.name})") as bar, atomic_dir(out) as tmp:
        for seed in seeds:
            data = (arch, train.tensors(), val.tensors(), cfg, seed, bar.advance)
            result = train_classifier(*data, on_epoch=report, runtime=runtime)
            manifests[seed] = manifest(
                stage=stage,
                trained_on=trained_on,
                params=cfg.model_dump(),
                inputs=inputs,
                seed=seed,
                device=result.device,
                seconds=result.seconds,
                metrics={
                    "best_epoch": result.best_epoch,
                    f"{role}_val_acc": result.best_val_acc,
                    "history": result.history_dicts(),
                },
            )
            save_checkpoint(seed_dir(tmp, seed), result.model, manifests[seed])
            log.info(
                "%s seed %d: best epoch %d, %s val acc %.4f",
                *(stage, seed, result.best_epoch, role, result.best_val_acc),
            )
    write_manifest_curves(live_dir(Path(out).parent, stage, BASELINE[stage]), manifests)
    return manifests
