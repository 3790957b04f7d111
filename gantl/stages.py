"""One function per pipeline stage: (validated params, input paths) → output paths + metrics.

The CLI (`gantl stage <name>`, which dvc.yaml calls) and the tests call these; nothing here
knows about DVC or Prefect. Each stage writes its outputs atomically: a failure leaves the
previous outputs in place.
"""

from __future__ import annotations

import logging
import os
import sysconfig
import time
from pathlib import Path
from typing import Any

import numpy as np

from gantl.checkpoint import input_hashes, load_classifier, save_checkpoint
from gantl.config import Params, TrainConfig
from gantl.data.prepare import convert_images, experiment_shape, split_domain
from gantl.data.specs import DATA_DIR_ENV, load_domain
from gantl.data.store import read_split, write_split
from gantl.errors import DataError
from gantl.eval.metrics import accuracy, classification_report, predict
from gantl.io import atomic_dir, atomic_path, files_sha256, write_json
from gantl.methods.source_only import steps_per_epoch, train_classifier
from gantl.models.classifier import Architecture, choose_model
from gantl.progress import progress_bar
from gantl.runtime import resolve_device

log = logging.getLogger("gantl")

PREPARED = Path("data/prepared")
MODELS = Path("models")
METRICS = Path("metrics")
PLOTS = Path("plots")
ROLES = ("source", "target")
SPLITS = ("train", "val", "test")
# model name in reports → (checkpoint folder, domain whose labels trained it, how it was selected)
EVALUATED = {
    "source_only": ("source", "source", "best source-val accuracy (no target labels)"),
    "oracle": ("oracle", "target", "best target-val accuracy (uses target labels: upper bound)"),
}


def portable_path(path: Path, data_dir: Path | None) -> str:
    """`path` relative to the data dir or to site-packages, so metadata (and with it the
    prepared files' hashes) does not depend on where the repo or the venv lives."""
    path = Path(path).resolve()
    env = os.environ.get(DATA_DIR_ENV)
    roots = [Path(data_dir) if data_dir else Path(env) if env else Path.cwd()]
    roots.append(Path(sysconfig.get_paths()["purelib"]))
    for root in roots:
        if path.is_relative_to(root.resolve()):
            return path.relative_to(root.resolve()).as_posix()
    return str(path)


def split_path(prepared: Path, role: str, split: str) -> Path:
    return Path(prepared) / role / f"{split}.parquet"


def prepare(params: Params, out: Path = PREPARED) -> dict[str, Any]:
    """Read both domains, bring them to one shape, split them, and write the Parquet contract."""
    exp, cfg = params.experiment, params.prepare
    domains = {
        "source": load_domain(exp.source, exp.data_dir, seed=cfg.seed),
        "target": load_domain(exp.target, exp.data_dir, seed=cfg.seed),
    }
    if domains["source"].class_names != domains["target"].class_names:
        raise DataError(
            f"{exp.source} and {exp.target} have different class lists: "
            f"{list(domains['source'].class_names)} vs {list(domains['target'].class_names)}"
        )
    size, channels = experiment_shape(domains["source"], domains["target"], cfg)
    rng = np.random.default_rng(cfg.seed)
    train_sizes = {"source": cfg.source_train_size, "target": cfg.target_train_size}
    summary: dict[str, Any] = {"protocol": exp.protocol, "shape": [size, size, channels]}
    with atomic_dir(out) as tmp:
        for role, domain in domains.items():
            log.info("prepare %s: %s (%s)", role, domain.name, domain.spec)
            prepared = split_domain(domain, cfg, train_sizes[role], f"{role}_train_size", rng)
            raw_hash = files_sha256(domain.raw_files)
            counts = {}
            for split, data in prepared.splits.items():
                raw_split, rows = prepared.raw_rows[split]
                meta = {
                    "domain": domain.name,
                    "spec": domain.spec,
                    "role": role,
                    "split": split,
                    "class_names": list(domain.class_names),
                    "raw_sha256": raw_hash,
                    "raw_files": [portable_path(p, exp.data_dir) for p in domain.raw_files],
                    "notes": list(prepared.notes),
                    "params": {
                        "experiment": exp.model_dump(mode="json"),
                        "prepare": cfg.model_dump(),
                    },
                }
                write_split(
                    split_path(tmp, role, split),
                    convert_images(data.images, size, channels),
                    data.labels,
                    np.array([f"{domain.name}/{raw_split}/{r}" for r in rows], dtype=object),
                    data.origins,
                    meta,
                )
                counts[split] = len(data)
            summary[role] = {
                "domain": domain.name,
                "spec": domain.spec,
                "counts": counts,
                "raw_sha256": raw_hash,
                "notes": list(prepared.notes),
            }
            log.info("  %s: %s", domain.name, counts)
        write_json(Path(tmp) / "prepare.json", summary)
    return summary


def _train_stage(
    stage: str, role: str, cfg: TrainConfig, prepared: Path, out: Path
) -> dict[str, Any]:
    paths = {split: split_path(prepared, role, split) for split in ("train", "val")}
    train, val = read_split(paths["train"]), read_split(paths["val"])
    if not (train.has_labels and val.has_labels):
        raise DataError(
            f"{paths['train']}: {stage} trains on {role} labels, but this {role} domain "
            f"({train.meta['spec']}) is unlabelled"
        )
    h, _, c = train.meta["shape"]
    arch = Architecture(
        name=choose_model(cfg.model, c),
        in_channels=c,
        image_size=h,
        num_classes=len(train.meta["class_names"]),
        width=cfg.width,
    )
    log.info(
        "%s: %s on %d %s images (%s)", stage, arch.name, len(train), role, train.meta["domain"]
    )
    total = cfg.epochs * steps_per_epoch(len(train), cfg.batch_size)

    def report(r: Any) -> None:
        log.info(
            "  epoch %d/%d  loss %.4f  train acc %.4f  val acc %.4f  (%.1fs)",
            r.epoch, cfg.epochs, r.train_loss, r.train_acc, r.val_acc, r.seconds,
        )  # fmt: skip

    with progress_bar(total, f"{stage} ({arch.name})") as bar:
        result = train_classifier(arch, train.tensors(), val.tensors(), cfg, bar.advance, report)
    manifest = {
        "stage": stage,
        "trained_on": {"role": role, "domain": train.meta["domain"], "spec": train.meta["spec"]},
        "params": cfg.model_dump(),
        "inputs": input_hashes({f"{role}/{k}.parquet": p for k, p in paths.items()}),
        "seed": cfg.seed,
        "device": result.device,
        "wall_time_s": round(result.seconds, 3),
        "metrics": {
            "best_epoch": result.best_epoch,
            f"{role}_val_acc": result.best_val_acc,
            "history": result.history_dicts(),
        },
    }
    with atomic_dir(out) as tmp:
        save_checkpoint(tmp, result.model, manifest)
    log.info(
        "%s: best epoch %d, %s val acc %.4f", stage, result.best_epoch, role, result.best_val_acc
    )
    return manifest


def pretrain(params: Params, prepared: Path = PREPARED, out: Path = MODELS / "source") -> dict:
    """Source classifier F_s + C on labelled source train; selected on source val."""
    return _train_stage("pretrain", "source", params.pretrain, prepared, out)


def oracle(params: Params, prepared: Path = PREPARED, out: Path = MODELS / "oracle") -> dict:
    """The same network on target labels: the upper bound every report shows."""
    return _train_stage("oracle", "target", params.oracle, prepared, out)


def evaluate(
    params: Params,
    prepared: Path = PREPARED,
    models: Path = MODELS,
    metrics: Path = METRICS,
    plots: Path = PLOTS,
) -> dict[str, Any]:
    """Score every model on the target test split → metrics/<model>.json, plots, summary."""
    cfg = params.evaluate
    device = resolve_device(cfg.device)
    target_test = read_split(split_path(prepared, "target", "test"))
    source_test = read_split(split_path(prepared, "source", "test"))
    if not target_test.has_labels:
        raise DataError(
            f"{split_path(prepared, 'target', 'test')}: target test labels are needed to score "
            "models, but this target domain is unlabelled"
        )
    class_names = target_test.meta["class_names"]
    x_t, y_t = target_test.tensors()
    x_s, y_s = source_test.tensors()
    source_meta = source_test.meta
    summary: dict[str, Any] = {
        "protocol": params.experiment.protocol,
        "source": {"domain": source_meta["domain"], "spec": source_meta["spec"]},
        "target": {"domain": target_test.meta["domain"], "spec": target_test.meta["spec"]},
        "notes": sorted(set(source_meta["notes"]) | set(target_test.meta["notes"])),
        "n_target_test": len(target_test),
        "results": {},
    }
    for name, (folder, trained_on, selection) in EVALUATED.items():
        start = time.perf_counter()
        model, manifest = load_classifier(Path(models) / folder)
        model.to(device)
        y_pred = predict(model, x_t, cfg.batch_size, device).numpy()
        report = classification_report(y_t.numpy(), y_pred, class_names)
        source_acc = accuracy(y_s, predict(model, x_s, cfg.batch_size, device))
        result = {
            "model": name,
            "protocol": params.experiment.protocol,
            "target_acc": report["accuracy"],
            "source_test_acc": source_acc,
            "per_class_acc": report["per_class_acc"],
            "n_target_test": report["n"],
            "trained_on": trained_on,
            "selection": selection,
            "selected_epoch": manifest["metrics"]["best_epoch"],
            "checkpoint_sha256": manifest["weights_sha256"],
        }
        write_json(Path(metrics) / f"{name}.json", result)
        _write_confusion(
            Path(plots) / "confusion" / f"{name}.csv", y_t.numpy(), y_pred, class_names
        )
        summary["results"][name] = {
            "target_acc": result["target_acc"],
            "source_test_acc": source_acc,
            "selection": selection,
        }
        log.info(
            "%s: target acc %.4f, source test acc %.4f (%.1fs)",
            name, report["accuracy"], source_acc, time.perf_counter() - start,
        )  # fmt: skip
    write_json(Path(metrics) / "summary.json", summary)
    return summary


def _write_confusion(path: Path, y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> None:
    """One row per test image (actual, predicted): the input of DVC's confusion template."""
    lines = ["actual,predicted"]
    lines += [f"{names[a]},{names[p]}" for a, p in zip(y_true, y_pred, strict=True)]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


STAGES = {"prepare": prepare, "pretrain": pretrain, "oracle": oracle, "evaluate": evaluate}
