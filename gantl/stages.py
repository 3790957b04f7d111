"""One function per pipeline stage: (validated params, input paths) → output paths + metrics.

The CLI (`gantl stage <name>`, which dvc.yaml calls) and the tests call these; nothing here
knows about DVC or Prefect. Each stage writes its outputs atomically: a failure leaves the
previous outputs in place.
"""

from __future__ import annotations

import logging
import os
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gantl.checkpoint import input_hashes, load_classifier, save_checkpoint
from gantl.config import GANS, Params, TrainConfig
from gantl.data.prepare import convert_images, experiment_shape, split_domain
from gantl.data.specs import DATA_DIR_ENV, load_domain
from gantl.data.store import read_split, write_split
from gantl.errors import ConfigError, DataError
from gantl.eval.metrics import accuracy, classification_report, predict
from gantl.eval.validators import proxy_a_distance
from gantl.io import atomic_dir, atomic_path, files_sha256, write_json
from gantl.methods.adaptation import UPPER_BOUND, AdaptationData, validate
from gantl.methods.adaptation import steps_per_epoch as adapt_steps
from gantl.methods.adda import train_adda
from gantl.methods.dann import train_dann
from gantl.methods.source_only import steps_per_epoch, train_classifier
from gantl.models.classifier import Architecture, Classifier, choose_model
from gantl.progress import progress_bar
from gantl.runtime import resolve_device
from gantl.translate import TRANSLATED, translate_stage

log = logging.getLogger("gantl")

PREPARED = Path("data/prepared")
MODELS = Path("models")
METRICS = Path("metrics")
PLOTS = Path("plots")
REPORTS = Path("reports")
ROLES = ("source", "target")
SPLITS = ("train", "val", "test")


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


def seed_dir(root: Path, seed: int) -> Path:
    return Path(root) / f"seed_{seed}"


def _train_stage(
    stage: str, role: str, cfg: TrainConfig, seeds: list[int], prepared: Path, out: Path
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
    total = len(seeds) * cfg.epochs * steps_per_epoch(len(train), cfg.batch_size)
    inputs = input_hashes({f"{role}/{k}.parquet": p for k, p in paths.items()})
    manifests = {}

    def report(r: Any) -> None:
        log.info(
            "  epoch %d/%d  loss %.4f  train acc %.4f  val acc %.4f  (%.1fs)",
            r.epoch, cfg.epochs, r.train_loss, r.train_acc, r.val_acc, r.seconds,
        )  # fmt: skip

    with progress_bar(total, f"{stage} ({arch.name})") as bar, atomic_dir(out) as tmp:
        for seed in seeds:
            result = train_classifier(
                arch, train.tensors(), val.tensors(), cfg, seed, bar.advance, report
            )
            manifest = {
                "stage": stage,
                "trained_on": {
                    "role": role,
                    "domain": train.meta["domain"],
                    "spec": train.meta["spec"],
                },
                "params": cfg.model_dump(),
                "inputs": inputs,
                "seed": seed,
                "device": result.device,
                "wall_time_s": round(result.seconds, 3),
                "metrics": {
                    "best_epoch": result.best_epoch,
                    f"{role}_val_acc": result.best_val_acc,
                    "history": result.history_dicts(),
                },
            }
            save_checkpoint(seed_dir(tmp, seed), result.model, manifest)
            manifests[seed] = manifest
            log.info(
                "%s seed %d: best epoch %d, %s val acc %.4f",
                stage, seed, result.best_epoch, role, result.best_val_acc,
            )  # fmt: skip
    return manifests


def pretrain(params: Params, prepared: Path = PREPARED, out: Path = MODELS / "source") -> dict:
    """Source classifier F_s + C on labelled source train, per seed; selected on source val."""
    seeds = params.experiment.seeds
    return _train_stage("pretrain", "source", params.pretrain, seeds, prepared, out)


def oracle(params: Params, prepared: Path = PREPARED, out: Path = MODELS / "oracle") -> dict:
    """The same network on target labels: the upper bound every report shows."""
    return _train_stage("oracle", "target", params.oracle, params.experiment.seeds, prepared, out)


def load_adaptation_data(
    prepared: Path,
    with_target_val_labels: bool = True,
    translated: Path | None = None,
    mix: bool = False,
) -> AdaptationData:
    """Source train/val with labels, target train without, target val (labels: upper bound).

    With `translated` (data/translated/<gan>), the source splits are the translated ones, or,
    with `mix`, the original and translated images together.
    """
    source_dirs = [Path(prepared) / "source"]
    if translated is not None:
        source_dirs = [*source_dirs, Path(translated)] if mix else [Path(translated)]
    parts = {
        name: [read_split(d / f"{name}.parquet").tensors() for d in source_dirs]
        for name in ("train", "val")
    }
    x_s, y_s = (torch.cat(t) for t in zip(*parts["train"], strict=True))
    x_s_val, y_s_val = (torch.cat(t) for t in zip(*parts["val"], strict=True))
    t_train, t_val = (read_split(split_path(prepared, "target", s)) for s in ("train", "val"))
    x_t_val, y_t_val = t_val.tensors()
    return AdaptationData(
        x_s=x_s,
        y_s=y_s,
        x_t=t_train.tensors()[0],  # the target train labels stop here
        x_s_val=x_s_val,
        y_s_val=y_s_val,
        x_t_val=x_t_val,
        y_t_val=y_t_val if with_target_val_labels and t_val.has_labels else None,
    )


LOGGED = ("loss", "domain_acc", "target_val_acc")  # history keys worth a log line
ADAPT_TRAINERS = {"dann": train_dann, "adda": train_adda}


def parse_method(method: str) -> tuple[str | None, str]:
    """ "adda" → (None, "adda"); "cyclegan+adda" → ("cyclegan", "adda") (pixel + feature)."""
    gan, _, base = method.rpartition("+")
    if gan and gan not in GANS:
        raise ConfigError(
            f"adapt: unknown translator {gan!r} in {method!r}; expected one of {GANS}"
        )
    known = ADAPT_TRAINERS.keys() | ({"source_only"} if gan else set())
    if base not in known:
        raise ConfigError(f"adapt: unknown method {method!r}; expected one of {sorted(known)}")
    return gan or None, base


def adapt(
    params: Params,
    method: str,
    prepared: Path = PREPARED,
    models: Path = MODELS,
    translated: Path = TRANSLATED,
) -> dict:
    """Adapt the source model of each seed to the target with `method`.

    A pixel + feature method "<gan>+<m>" (CyCADA's recipe) first trains the classifier on the
    translated source images (`pretrain` settings, selected on translated source val), then
    runs <m> from it with the translated images as its source; "<gan>+source_only" stops after
    the first step.
    """
    gan, base = parse_method(method)
    cfg = params.pretrain if base == "source_only" else getattr(params, base)
    data = load_adaptation_data(
        prepared,
        translated=Path(translated) / gan if gan else None,
        mix=params.adapt.pixel_source == "both",
    )
    seeds = params.experiment.seeds
    steps = adapt_steps(len(data.x_s), len(data.x_t), cfg.batch_size)
    total = len(seeds) * cfg.epochs * steps
    input_paths = {
        f"{r}/{s}.parquet": split_path(prepared, r, s) for r in ROLES for s in ("train", "val")
    }
    if gan:
        input_paths |= {
            f"translated/{gan}/{s}.parquet": Path(translated) / gan / f"{s}.parquet"
            for s in ("train", "val")
        }
        total += (
            len(seeds)
            * params.pretrain.epochs
            * steps_per_epoch(len(data.x_s), params.pretrain.batch_size)
        )
    inputs = input_hashes(input_paths)
    manifests = {}
    with (
        progress_bar(total, f"adapt ({method})") as bar,
        atomic_dir(Path(models) / method) as tmp,
    ):
        for seed in seeds:
            source_dir = seed_dir(Path(models) / "source", seed)
            source_model, source_manifest = load_classifier(source_dir)
            source_hash = source_manifest["weights_sha256"]
            if gan:
                log.info("adapt %s seed %d: classifier on %s-translated source", method, seed, gan)
                trained = train_classifier(
                    source_model.arch, (data.x_s, data.y_s), (data.x_s_val, data.y_s_val),
                    params.pretrain, seed, bar.advance,
                )  # fmt: skip
                source_model, source_hash = trained.model, None
            if base == "source_only":
                manifest = {
                    "stage": f"adapt@{method}",
                    "method": method,
                    "params": {
                        "pretrain": params.pretrain.model_dump(),
                        "adapt": params.adapt.model_dump(),
                    },
                    "inputs": inputs,
                    "seed": seed,
                    "device": trained.device,
                    "wall_time_s": round(trained.seconds, 3),
                    "metrics": {
                        "best_epoch": trained.best_epoch,
                        "source_val_acc": trained.best_val_acc,
                        "history": trained.history_dicts(),
                    },
                }
                save_checkpoint(seed_dir(tmp, seed) / "selected", source_model, manifest)
                manifests[seed] = manifest
                continue
            log.info("adapt %s seed %d: from %s", method, seed, gan or source_dir)
            result = ADAPT_TRAINERS[base](source_model, data, cfg, params.adapt, seed, bar.advance)
            for record in result.history:
                if params.adapt.validator not in record:
                    continue  # an epoch between validations
                log.info(
                    "  epoch %d/%d  %s  %s=%.4f  (%.1fs)",
                    record["epoch"], cfg.epochs,
                    "  ".join(f"{k} {v:.3f}" for k, v in record.items() if k.endswith(LOGGED)),
                    params.adapt.validator, record[params.adapt.validator], record["seconds"],
                )  # fmt: skip
            manifest = {
                "stage": f"adapt@{method}",
                "method": method,
                "params": {base: cfg.model_dump(), "adapt": params.adapt.model_dump()},
                "inputs": {**inputs, "source_model": source_hash},
                "seed": seed,
                "device": result.device,
                "wall_time_s": round(result.seconds, 3),
                "metrics": {
                    "validator": result.validator,
                    "best_epoch": result.picks[result.validator],
                    "picks": result.picks,
                    "history": result.history,
                },
            }
            if gan:
                manifest["params"]["pretrain"] = params.pretrain.model_dump()
            save_checkpoint(seed_dir(tmp, seed) / "selected", result.selected, manifest)
            if result.upper_bound is not None:
                bound = {
                    **manifest,
                    "metrics": {**manifest["metrics"], "best_epoch": result.picks[UPPER_BOUND]},
                }
                save_checkpoint(seed_dir(tmp, seed) / "upper_bound", result.upper_bound, bound)
            manifests[seed] = manifest
            log.info(
                "adapt %s seed %d: %s picks epoch %d",
                method,
                seed,
                result.validator,
                result.picks[result.validator],
            )
    return manifests


def _model_dirs(models: Path, name: str, seed: int) -> tuple[Path, Path | None]:
    """(checkpoint the report scores, checkpoint target labels chose or None) of one model."""
    if name == "source_only":
        return seed_dir(Path(models) / "source", seed), None
    if name == "oracle":
        return seed_dir(Path(models) / "oracle", seed), None
    base = seed_dir(Path(models) / name, seed)
    bound = base / "upper_bound"
    return base / "selected", bound if bound.is_dir() else None


SELECTION = {  # how each model's checkpoint was chosen, as the table prints it
    "source_only": "source-val acc",
    "oracle": "target labels (oracle)",
}


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def evaluate(
    params: Params,
    prepared: Path = PREPARED,
    models: Path = MODELS,
    metrics: Path = METRICS,
    plots: Path = PLOTS,
    reports: Path = REPORTS,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """Score every model on the target test split; guard against negative transfer.

    metrics/summary.json (the DVC metric), reports/<model>.json (per seed, per class),
    plots/confusion/<model>.csv (first seed).
    """
    cfg, seeds, validator = params.evaluate, params.experiment.seeds, params.adapt.validator
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
    data = load_adaptation_data(prepared, with_target_val_labels=False)
    fit_rows = torch.randperm(len(data.x_s), generator=torch.Generator().manual_seed(0))
    fit_rows = fit_rows[: params.adapt.validation_samples]
    names = names or ["source_only", "oracle", *params.adapted_models]
    adapted = [n for n in names if n not in ("source_only", "oracle")]
    results: dict[str, Any] = {}
    for name in names:
        per_seed = []
        for seed in seeds:
            scored, bound_dir = _model_dirs(models, name, seed)
            model, manifest = load_classifier(scored)
            model.to(device)
            y_pred = predict(model, x_t, cfg.batch_size, device).numpy()
            report = classification_report(y_t.numpy(), y_pred, class_names)
            row = {
                "seed": seed,
                "target_acc": report["accuracy"],
                "source_test_acc": accuracy(y_s, predict(model, x_s, cfg.batch_size, device)),
                "selected_epoch": manifest["metrics"]["best_epoch"],
                "per_class_acc": report["per_class_acc"],
                "confusion_matrix": report["confusion_matrix"],
                "checkpoint_sha256": manifest["weights_sha256"],
            }
            if name != "oracle":
                row["validator_score"] = validate(model, data, fit_rows, device, seed)[validator]
                f_s = _features(model, x_s, device)
                f_t = _features(model, x_t, device)
                row["proxy_a_distance"] = proxy_a_distance(f_s, f_t, seed=seed)
            if bound_dir is not None:
                bound, bound_manifest = load_classifier(bound_dir)
                row["target_acc_upper_bound"] = accuracy(
                    y_t, predict(bound.to(device), x_t, cfg.batch_size, device)
                )
                row["upper_bound_epoch"] = bound_manifest["metrics"]["best_epoch"]
            if seed == seeds[0]:
                _write_confusion(
                    Path(plots) / "confusion" / f"{name}.csv", y_t.numpy(), y_pred, class_names
                )
            per_seed.append(row)
        results[name] = _aggregate(name, per_seed, validator)
        write_json(
            Path(reports) / f"{name}.json", {"model": name, "per_seed": per_seed, **results[name]}
        )
        log.info(
            "%s: target acc %.4f ± %.4f over %d seed(s)",
            name, results[name]["target_acc_mean"], results[name]["target_acc_std"], len(seeds),
        )  # fmt: skip
    recommended, warnings = _guard_negative_transfer(results, adapted, validator)
    for w in warnings:
        log.warning(w)
    summary: dict[str, Any] = {
        "protocol": params.experiment.protocol,
        "source": {"domain": source_test.meta["domain"], "spec": source_test.meta["spec"]},
        "target": {"domain": target_test.meta["domain"], "spec": target_test.meta["spec"]},
        "seeds": seeds,
        "validator": validator,
        "n_target_test": len(target_test),
        "notes": sorted(set(source_test.meta["notes"]) | set(target_test.meta["notes"])),
        "results": results,
        "recommended": recommended,
        "warnings": warnings,
    }
    write_json(Path(metrics) / "summary.json", summary)
    return summary


def _features(model: Classifier, x: torch.Tensor, device: torch.device) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return torch.cat(
            [model.features(x[i : i + 512].to(device)).cpu() for i in range(0, len(x), 512)]
        ).numpy()


def _aggregate(name: str, per_seed: list[dict], validator: str) -> dict[str, Any]:
    mean, std = _mean_std([r["target_acc"] for r in per_seed])
    out: dict[str, Any] = {
        "target_acc_mean": mean,
        "target_acc_std": std,
        "target_acc_per_seed": [r["target_acc"] for r in per_seed],
        "source_test_acc_mean": _mean_std([r["source_test_acc"] for r in per_seed])[0],
        "selection": SELECTION.get(
            name,
            "translated-source val acc"
            if name.endswith("+source_only")
            else f"validator {validator}",
        ),
    }
    if "validator_score" in per_seed[0]:
        out["validator_score_mean"] = _mean_std([r["validator_score"] for r in per_seed])[0]
        out["proxy_a_distance_mean"] = _mean_std([r["proxy_a_distance"] for r in per_seed])[0]
    if "target_acc_upper_bound" in per_seed[0]:
        bound = [r["target_acc_upper_bound"] for r in per_seed]
        out["target_acc_upper_bound_mean"], out["target_acc_upper_bound_std"] = _mean_std(bound)
    return out


def _guard_negative_transfer(
    results: dict[str, Any], methods: list[str], validator: str
) -> tuple[str, list[str]]:
    """Recommend the adapted model the validator scores best, unless none beats source-only."""
    baseline = results["source_only"]["validator_score_mean"]
    warnings, recommended, best = [], "source_only", baseline
    for method in methods:
        score = results[method]["validator_score_mean"]
        results[method]["negative_transfer"] = score < baseline
        if score < baseline:
            warnings.append(
                f"negative transfer: {validator} scores {method} ({score:.4f}) below source-only "
                f"({baseline:.4f}); source-only stays the recommended model"
            )
        elif score > best:
            recommended, best = method, score
    return recommended, warnings


def _write_confusion(path: Path, y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> None:
    """One row per test image (actual, predicted): the input of DVC's confusion template."""
    lines = ["actual,predicted"]
    lines += [f"{names[a]},{names[p]}" for a, p in zip(y_true, y_pred, strict=True)]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def translate(
    params: Params, prepared: Path = PREPARED, models: Path = MODELS, translated: Path = TRANSLATED
) -> dict[str, Any]:
    """Train `translate.gan` on source and target train images; write translated source splits."""
    return translate_stage(params, prepared, models, translated, METRICS, PLOTS)


STAGES = {
    "prepare": prepare,
    "pretrain": pretrain,
    "oracle": oracle,
    "translate": translate,
    "evaluate": evaluate,
}
