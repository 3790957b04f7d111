"""The translate stage: a GAN turns labelled source images into target-style ones, labels kept.

It trains the configured translator (CycleGAN, StarGAN or PixelDA) on source train and target
train images (target labels never reach it; PixelDA also reads the source labels), then writes

    models/<gan>/                 generator weights (safetensors) + manifest with per-epoch metrics
    data/translated/<gan>/{train,val}.parquet   the source splits, translated; labels, ids kept
    plots/translate/<gan>.png     rows: source | translated | reconstructed (two-way GANs only)
                                  | real target images
    plots/translate/<gan>.csv     FID, KID and label preservation per epoch
    metrics/translate.json        the kept epoch's FID / KID / label preservation and label-free
                                  figures, and the same before translation, for comparison

Training stops within `translate.budget_minutes` (its epochs and lr decay shrink to fit). Each
epoch is scored twice (gantl.eval.gan_metrics): on the oracle's features (a target-domain
classifier, so target labels: reported as a diagnostic, never a choice) and without target
labels, by the source classifier (does a translated 3 still read as a 3) and on the features of
a domain judge trained here to tell unlabelled source from target images (how target-like the
translations look; gantl.eval.domain_judge). `translate.select: label_free` keeps the epoch with
the best label-free score; `last` keeps the last epoch.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.utils import make_grid, save_image

from gantl.checkpoint import (
    WEIGHTS,
    input_hashes,
    load_classifier,
    load_manifest,
    save_weights,
    verified_weights,
)
from gantl.config import Params
from gantl.data.prepare import convert_images
from gantl.data.specs import load_domain
from gantl.data.store import PreparedSplit as Split
from gantl.data.store import read_split, to_tensor, to_uint8, write_split
from gantl.errors import ConfigError, DataError
from gantl.eval.domain_judge import judge_accuracy, train_domain_judge
from gantl.eval.gan_metrics import (
    LABEL_FREE,
    SCORE,
    label_free_quality,
    label_free_score,
    translation_quality,
)
from gantl.io import atomic_dir, atomic_path, file_sha256, files_sha256, write_json
from gantl.methods import cyclegan, pixelda, stargan
from gantl.models.cyclegan_nets import ResnetGenerator
from gantl.models.stargan_nets import StarGenerator
from gantl.progress import progress_bar
from gantl.stages.curves import write_curves
from gantl.stages.manifest import manifest
from gantl.stages.paths import METRICS, MODELS, PLOTS, PREPARED, STATE, TRANSLATED, seed_dir
from gantl.training.batches import balanced_steps
from gantl.transaction import after_commit

log = logging.getLogger("gantl")
ToImages = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Translator:
    """A trained GAN reduced to what the pipeline needs from it."""

    to_target: ToImages  # source images → target style
    to_source: ToImages | None  # target style → source (reconstruction); None: one-way (PixelDA)
    weights: nn.Module  # what is saved (both generators for CycleGAN, G for StarGAN)
    architecture: dict[str, Any]
    history: list[dict]
    resumed_from: int
    device: str
    seconds: float
    best_epoch: int  # the epoch whose weights these are (`translate.select`)
    # stochastic translators: source images → target style with noise drawn from a seed
    draw: Callable[[torch.Tensor, int], torch.Tensor] | None = None
    epochs: int | None = None  # epochs it trained for, where `history` does not hold them all


class QualityProbe:
    """The fixed images each epoch is scored on: labelled source-val images to translate and
    real target-val images to compare with, read by the oracle (a diagnostic: it knows target
    labels) and by the source classifier and the domain judge (label-free: what
    `translate.select` reads)."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        real: torch.Tensor,
        judge: nn.Module,
        source_model: nn.Module,
        seed: int,
        domain_judge: nn.Module | None = None,
    ) -> None:
        self.x, self.y, self.real = x, y, real
        self.judge, self.source_model, self.seed = judge, source_model, seed
        self.domain_judge = domain_judge
        self.untranslated = self._quality(x, x)  # what "no translation" scores

    def _quality(self, fake: torch.Tensor, reconstructed: torch.Tensor | None) -> dict[str, float]:
        q = translation_quality(self.judge, fake, self.y, self.real, seed=self.seed)
        return q | label_free_quality(
            self.source_model, fake, self.y, self.real, reconstructed, self.x, self.domain_judge
        )

    def score(self, to_target: ToImages, to_source: ToImages | None) -> dict[str, float]:
        """Every figure of the translations `to_target` makes, and the label-free score."""
        fake = to_target(self.x)
        q = self._quality(fake, None if to_source is None else to_source(fake))
        return q | {SCORE: label_free_score(q, self.untranslated)}


@dataclass(frozen=True)
class TranslatorRun:
    """What one translator training run sees besides the images."""

    classifier: nn.Module | None  # the frozen source classifier (CyCADA's semantic loss)
    state_dir: Path | None  # resumable state
    run_id: str  # ties the resumable state to these inputs
    on_step: Callable[[], None] | None
    on_epoch: Callable[[int, ToImages, ToImages | None], dict[str, float]]  # per-epoch quality
    score: Callable[[dict], float] | None  # of an epoch's record: keep the best; None: the last
    domains: list[dict[str, str]] = field(default_factory=list)  # {spec, raw_sha256}, in order


def train_translator(
    params: Params,
    source: tuple[torch.Tensor, torch.Tensor],
    x_t: torch.Tensor,
    run: TranslatorRun,
    extra: list[torch.Tensor] | None = None,
) -> Translator:
    """Train `params.translate.gan` on the source images (domain A / 0; `source` is images and
    labels: PixelDA's task classifier reads the labels) and x_t (domain B / 1); StarGAN also
    learns the `extra` domains (2, 3, …)."""
    x_s, y_s = source
    if params.translate.gan == "cyclegan":
        return _cyclegan(params, x_s, x_t, run)
    if params.translate.gan == "pixelda":
        return _pixelda(params, x_s, y_s, x_t, run)
    return _stargan(params, [x_s, x_t, *(extra or [])], run)


def _cyclegan(
    params: Params, x_s: torch.Tensor, x_t: torch.Tensor, run: TranslatorRun
) -> Translator:
    cfg = params.cyclegan
    r = cyclegan.train_cyclegan(
        x_s,
        x_t,
        cfg,
        seed=params.translate.seed,
        classifier=run.classifier,
        state_dir=run.state_dir,
        run_id=run.run_id,
        on_step=run.on_step,
        on_epoch=lambda e, g_ab, g_ba: run.on_epoch(
            e, lambda x: cyclegan.translate(g_ab, x), lambda x: cyclegan.translate(g_ba, x)
        ),
        budget_minutes=params.translate.budget_minutes,
        score=run.score,
    )
    return Translator(
        to_target=lambda x: cyclegan.translate(r.G_AB, x),
        to_source=lambda x: cyclegan.translate(r.G_BA, x),
        weights=nn.ModuleDict({"G_AB": r.G_AB, "G_BA": r.G_BA}),
        architecture={
            "kind": "cyclegan",
            "channels": x_s.shape[1],
            "size": x_s.shape[-1],
            "ngf": cfg.ngf,
            "n_blocks": cfg.n_blocks,
            "domains": run.domains,  # A, B: what `translate.reuse` matches
        },
        **_run_record(r),
    )


def _pixelda(
    params: Params, x_s: torch.Tensor, y_s: torch.Tensor, x_t: torch.Tensor, run: TranslatorRun
) -> Translator:
    cfg, seed = params.pixelda, params.translate.seed
    if run.classifier is None:
        raise ValueError("PixelDA's task classifier starts from the source classifier: none given")
    r = pixelda.train_pixelda(
        x_s,
        y_s,
        x_t,
        cfg,
        run.classifier,
        seed=seed,
        state_dir=run.state_dir,
        run_id=run.run_id,
        on_step=run.on_step,
        on_epoch=lambda e, g: run.on_epoch(e, lambda x: pixelda.translate(g, x, seed), None),
        budget_minutes=params.translate.budget_minutes,
        score=run.score,
    )
    return Translator(
        to_target=lambda x: pixelda.translate(r.G, x, seed),
        to_source=None,
        draw=lambda x, noise_seed: pixelda.translate(r.G, x, noise_seed),
        weights=r.G,
        architecture={
            "kind": "pixelda",
            "channels": x_s.shape[1],
            "size": x_s.shape[-1],
            "ngf": cfg.ngf,
            "n_blocks": cfg.n_blocks,
            "z_dim": cfg.z_dim,
        },
        **_run_record(r),
    )


def _run_record(
    r: cyclegan.CycleGanResult | stargan.StarGanResult | pixelda.PixelDaResult,
) -> dict[str, Any]:
    """What every translator's result records about its run."""
    return {
        "history": r.history,
        "resumed_from": r.resumed_from,
        "device": r.device,
        "seconds": r.seconds,
        "best_epoch": r.best_epoch,
    }


def _stargan(params: Params, domains: list[torch.Tensor], run: TranslatorRun) -> Translator:
    cfg, k = params.stargan, len(domains)
    r = stargan.train_stargan(
        domains,
        cfg,
        seed=params.translate.seed,
        state_dir=run.state_dir,
        run_id=run.run_id,
        on_step=run.on_step,
        on_epoch=lambda e, g: run.on_epoch(
            e,
            lambda x: stargan.translate_to(g, x, 1, k),
            lambda x: stargan.translate_to(g, x, 0, k),
        ),
        budget_minutes=params.translate.budget_minutes,
        score=run.score,
        classifier=run.classifier,
    )
    return Translator(
        to_target=lambda x: stargan.translate_to(r.G, x, 1, k),
        to_source=lambda x: stargan.translate_to(r.G, x, 0, k),
        weights=r.G,
        architecture={
            "kind": "stargan",
            "channels": domains[0].shape[1],
            "size": domains[0].shape[-1],
            "c_dim": k,
            "conv_dim": cfg.g_conv_dim,
            "n_blocks": cfg.g_blocks,
            "domains": run.domains,  # label i's domain: what `translate.reuse` matches
            "source_domain": 0,
            "target_domain": 1,
        },
        **_run_record(r),
    )


def translate(
    params: Params,
    prepared: Path = PREPARED,
    models: Path = MODELS,
    translated: Path = TRANSLATED,
    metrics: Path = METRICS,
    plots: Path = PLOTS,
    state_root: Path = STATE,
) -> dict[str, Any]:
    """Train the translator and write the translated source splits, the grid and the metrics."""
    gan, tcfg = params.translate.gan, params.translate
    split = _read_splits(prepared, gan)
    h = split["source", "train"].meta["shape"][0]
    g = torch.Generator().manual_seed(tcfg.seed)
    (x_s, y_s), x_t = _training_images(split, tcfg.train_size, g)
    x_probe, y_probe, x_real = _probes(split, tcfg.metrics_samples, g)
    seed0 = params.experiment.seeds[0]
    judge, _ = load_classifier(seed_dir(Path(models) / "oracle", seed0))
    source_model, _ = load_classifier(seed_dir(Path(models) / "source", seed0))
    inputs = input_hashes(
        {f"{r}/{n}.parquet": Path(prepared) / r / f"{n}.parquet" for r, n in split}
        | {f"{m}_model": seed_dir(Path(models) / m, seed0) / WEIGHTS for m in ("source", "oracle")}
    )
    domain_judge = train_domain_judge(x_s, x_t, source_model.arch.name, tcfg.seed)
    log.info(
        "translate: domain judge tells source-val from target-val %.1f%% of the time",
        100 * judge_accuracy(domain_judge, x_probe, x_real),
    )
    probe = QualityProbe(x_probe, y_probe, x_real, judge, source_model, tcfg.seed, domain_judge)
    domains = [_identity(split[role, "train"].meta) for role in ("source", "target")]
    state_dir = Path(state_root) / gan
    if tcfg.reuse is not None:
        result = reused(params, domains, (h, x_s.shape[1]), probe)
        inputs["reused_translator"] = tcfg.reuse.weights_sha256
    else:
        extra = _extra_domains(params, (h, x_s.shape[1]), g, inputs) if gan == "stargan" else []
        domains += [identity for _, identity in extra]
        run = _translator_run(params, probe, source_model, state_dir, inputs, domains)
        result = _train_with_progress(params, (x_s, y_s), x_t, run, [x for x, _ in extra])
    _save_translator(params, result, inputs, Path(models) / gan)
    translated_by = {"gan": gan, "seed": tcfg.seed, "copies": tcfg.copies, "inputs": inputs}
    _write_translated(split, result, translated_by, Path(translated) / gan)
    n = tcfg.grid_images
    _write_grid(Path(plots) / "translate" / f"{gan}.png", x_probe[:n], result, x_real[:n])
    _write_history(Path(plots) / "translate" / f"{gan}.csv", result.history, result.best_epoch)
    curves = Path(plots) / "live" / "translate" / gan  # plots/live/<stage>/<model>, as LIVE
    write_curves(curves, {tcfg.seed: result.history}, {tcfg.seed: result.best_epoch})
    before = probe.untranslated
    summary = _summary(result, before, f"oracle seed {seed0}", len(x_probe), tcfg.select)
    write_json(Path(metrics) / "translate.json", summary)
    # a finished run needs no resume state, once its outputs are in place
    after_commit(lambda: shutil.rmtree(state_dir, ignore_errors=True))
    log.info(
        "translate: %s epoch %d of %d (%s): FID %.2f (untranslated %.2f), label preservation %.4f",
        *(gan, result.best_epoch, summary["epochs"], tcfg.select),
        *(summary["fid"], before["fid"], summary["label_preservation"]),
    )
    return summary


def _translator_run(
    params: Params,
    probe: QualityProbe,
    source_model: nn.Module,
    state_dir: Path,
    inputs: dict[str, str],
    domains: list[dict[str, str]],
) -> TranslatorRun:
    """What the translator's training sees: each epoch scored on `probe`, resumable state
    tied to `inputs`, and the label-free choice of epoch when `translate.select` asks for it."""
    gan = params.translate.gan

    def on_epoch(epoch: int, to_target: ToImages, to_source: ToImages | None) -> dict:
        q = probe.score(to_target, to_source)
        _log_epoch(gan, epoch, q)
        return q

    return TranslatorRun(
        classifier=source_model,
        state_dir=state_dir,
        run_id=str(sorted(inputs.items())),
        on_step=None,
        on_epoch=on_epoch,
        score=(lambda record: record[SCORE]) if params.translate.select == "label_free" else None,
        domains=domains,
    )


def _log_epoch(gan: str, epoch: int, q: dict[str, float]) -> None:
    log.info(
        "  %s epoch %d: label-free score %.4f (source-model agreement %.4f, FID %.2f, "
        "domain-judge FID %.2f)  oracle: FID %.2f, label preservation %.4f",
        *(gan, epoch, q[SCORE], q["src_agreement"], q["src_fid"], q.get("dom_fid", float("nan"))),
        *(q["fid"], q["label_preservation"]),
    )


def _read_splits(prepared: Path, gan: str) -> dict[tuple[str, str], Split]:
    """Source and target train/val splits; their size must suit the generator."""
    split = {
        (role, name): read_split(Path(prepared) / role / f"{name}.parquet")
        for role in ("source", "target")
        for name in ("train", "val")
    }
    h, w, _ = split["source", "train"].meta["shape"]
    if h % 4 or w % 4:
        raise ConfigError(
            f"prepare.image_size: the {gan} generator needs a multiple of 4, got {h}×{w}"
        )
    return split


def _train_with_progress(
    params: Params,
    source: tuple[torch.Tensor, torch.Tensor],
    x_t: torch.Tensor,
    run: TranslatorRun,
    extra: list[torch.Tensor],
) -> Translator:
    gan = params.translate.gan
    cfg = getattr(params, gan)
    x_s = source[0]
    sizes = [len(x_s), len(x_t), *(len(x) for x in extra)]
    with progress_bar(
        balanced_steps(sizes, cfg.batch_size) * cfg.epochs, f"translate ({gan})"
    ) as bar:
        log.info("translate: %s on %d source and %d target images", gan, len(x_s), len(x_t))
        return train_translator(params, source, x_t, replace(run, on_step=bar.advance), extra)


def _training_images(
    split: dict[tuple[str, str], Split], train_size: int | None, g: torch.Generator
) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Source train images with their labels, and target train images (target labels stop
    here), `train_size` of each."""
    x_s, y_s = split["source", "train"].tensors()
    x_t = split["target", "train"].tensors()[0]
    if train_size is not None:
        keep = torch.randperm(len(x_s), generator=g)[:train_size]
        x_s, y_s = x_s[keep], y_s[keep]
        x_t = x_t[torch.randperm(len(x_t), generator=g)[:train_size]]
    return (x_s, y_s), x_t


def _probes(
    split: dict[tuple[str, str], Split], n: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`n` labelled source-val images to translate and `n` real target-val images: the
    inputs of FID, KID and label preservation."""
    x_sv, y_sv = split["source", "val"].tensors()
    probe = torch.randperm(len(x_sv), generator=g)[:n]
    x_tv = split["target", "val"].tensors()[0]
    return x_sv[probe], y_sv[probe], x_tv[torch.randperm(len(x_tv), generator=g)[:n]]


def _identity(meta: dict[str, Any]) -> dict[str, str]:
    """What names a domain to a translator: its spec and its raw files' hash."""
    return {"spec": meta["spec"], "raw_sha256": meta["raw_sha256"]}


def _extra_domains(
    params: Params, shape: tuple[int, int], g: torch.Generator, inputs: dict[str, str]
) -> list[tuple[torch.Tensor, dict[str, str]]]:
    """StarGAN's `extra_domains`, brought to the experiment's shape, each with its identity;
    their raw files' hash is added to `inputs`."""
    size, channels = shape
    extra, files = [], []
    for spec in params.stargan.extra_domains:
        domain = load_domain(spec, params.experiment.data_dir, seed=params.translate.seed)
        images = (domain.splits.get("train") or domain.splits["test"]).images
        x = to_tensor(convert_images(images, size, channels))
        x = x[torch.randperm(len(x), generator=g)[: params.translate.train_size or len(x)]]
        extra.append((x, {"spec": domain.spec, "raw_sha256": files_sha256(domain.raw_files)}))
        files += list(domain.raw_files)
        log.info("translate: stargan also learns %s (%d images)", spec, len(x))
    if files:
        inputs["extra_domains"] = files_sha256(files)
    return extra


def reused(
    params: Params, domains: list[dict[str, str]], shape: tuple[int, int], probe: QualityProbe
) -> Translator:
    """`translate.reuse`'s translator, checked and pointed at this experiment's pair: its weights
    must hash to the pinned value and its manifest's, its domains must include this source and
    target (same spec, same raw bytes), its images this shape. It is scored once on the probe."""
    cfg, gan = params.translate.reuse, params.translate.gan
    directory = Path(cfg.dir)
    where = f"translate.reuse.dir: {directory}"
    if not (directory / WEIGHTS).is_file():
        raise DataError(f"{where}: no {WEIGHTS}; expected a models/{gan} folder")
    record = load_manifest(directory)
    actual = file_sha256(directory / WEIGHTS)
    if actual != cfg.weights_sha256:
        raise DataError(
            f"{directory / WEIGHTS}: sha256 {actual}, but translate.reuse.weights_sha256 pins "
            f"{cfg.weights_sha256}"
        )
    if record.get("weights_sha256") != actual:
        raise DataError(f"{directory / WEIGHTS}: does not match its manifest's weights_sha256")
    arch = record.get("architecture", {})
    if arch.get("kind") != gan:
        raise ConfigError(f"{where}: holds a {arch.get('kind')} translator; translate.gan is {gan}")
    learned = arch.get("domains") or []
    if not all(isinstance(d, dict) for d in learned):
        raise DataError(f"{where}: its record names no domains' raw hashes (retrain it)")
    index = []
    for role, domain in zip(("source", "target"), domains, strict=True):
        if domain not in learned:
            raise ConfigError(
                f"{where}: never learned this {role} ({domain['spec']}, raw sha256 "
                f"{domain['raw_sha256'][:12]}…); it learned {[d['spec'] for d in learned]}"
            )
        index.append(learned.index(domain))
    size, channels = shape
    if (arch.get("size"), arch.get("channels")) != (size, channels):
        raise ConfigError(
            f"{where}: translates {arch.get('size')} px × {arch.get('channels')} channels; "
            f"this experiment's images are {size} px × {channels} (prepare.image_size, channels)"
        )
    state = verified_weights(directory, record)
    to_target, to_source, weights, arch = _pointed(gan, arch, state, index)
    kept = record.get("metrics", {}).get("kept_epoch", 0)
    quality = {"epoch": kept, **probe.score(to_target, to_source)}
    _log_epoch(f"{gan} (reused)", kept, quality)
    return Translator(
        to_target=to_target,
        to_source=to_source,
        weights=weights,
        architecture=arch | {"reused_from": {"dir": str(directory), "stage": record.get("stage")}},
        epochs=len(record.get("metrics", {}).get("history", [])) or 1,
        history=[quality],
        resumed_from=0,
        device="cpu",
        seconds=0.0,
        best_epoch=kept,
    )


def _pointed(
    gan: str, arch: dict[str, Any], state: dict[str, torch.Tensor], index: list[int]
) -> tuple[ToImages, ToImages, nn.Module, dict[str, Any]]:
    """The reused translator's two directions between domains `index` = [source, target], the
    module to save and its record, with this experiment's source as the record's first domain
    (CycleGAN: G_AB is source → target) or as `source_domain` (StarGAN)."""
    s, t = index
    if gan == "stargan":
        G = StarGenerator(arch["channels"], arch["c_dim"], arch["conv_dim"], arch["n_blocks"])
        _load(G, state, arch)
        k = arch["c_dim"]
        return (
            lambda x: stargan.translate_to(G, x, t, k),
            lambda x: stargan.translate_to(G, x, s, k),
            G,
            arch | {"source_domain": s, "target_domain": t},
        )
    pair = nn.ModuleDict(
        {
            n: ResnetGenerator(arch["channels"], arch["channels"], arch["ngf"], arch["n_blocks"])
            for n in ("G_AB", "G_BA")
        }
    )
    _load(pair, state, arch)
    forward, back = (pair["G_AB"], pair["G_BA"]) if s == 0 else (pair["G_BA"], pair["G_AB"])
    domains = [arch["domains"][s], arch["domains"][t]]
    return (
        lambda x: cyclegan.translate(forward, x),
        lambda x: cyclegan.translate(back, x),
        nn.ModuleDict({"G_AB": forward, "G_BA": back}),
        arch | {"domains": domains},
    )


def _load(module: nn.Module, state: dict[str, torch.Tensor], arch: dict[str, Any]) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1].strip()
        raise DataError(
            f"translate.reuse: weights do not fit their {arch['kind']} record: {first}"
        ) from None
    module.eval()


def _save_translator(params: Params, result: Translator, inputs: dict[str, str], out: Path) -> None:
    gan = params.translate.gan
    record = manifest(
        stage=f"translate@{gan}",
        params={"translate": params.translate.model_dump(), gan: getattr(params, gan).model_dump()},
        inputs=inputs,
        seed=params.translate.seed,
        device=result.device,
        seconds=result.seconds,
        metrics={"history": result.history, "kept_epoch": result.best_epoch},
        resumed_from_epoch=result.resumed_from,
    )
    with atomic_dir(out) as tmp:
        save_weights(tmp, result.weights, record, result.architecture)


def _write_translated(
    split: dict[tuple[str, str], Split],
    result: Translator,
    translated_by: dict[str, Any],
    out: Path,
) -> None:
    """The source train/val splits, translated; labels, sample ids and metadata kept. The train
    split holds `copies` translations of each image (copy i's noise drawn from seed + i; copy 0
    is `to_target`'s), val one."""
    gan, copies = translated_by["gan"], translated_by["copies"]
    with atomic_dir(out) as tmp:
        for name in ("train", "val"):
            src = split["source", name]
            x = src.tensors()[0]
            n = copies if name == "train" else 1
            draws = [result.to_target(x)]
            if n > 1 and result.draw is None:
                raise ValueError(f"translate.copies: {gan} cannot draw fresh translations")
            draws += [result.draw(x, translated_by["seed"] + i) for i in range(1, n)]
            meta = {
                **{k: v for k, v in src.meta.items() if k not in ("shape", "num_rows")},
                "domain": f"{src.meta['domain']} → {split['target', name].meta['domain']} ({gan})",
                "translated_by": translated_by,
            }
            tags = [gan] + [f"{gan}#{i}" for i in range(1, n)]
            origins = np.asarray([f"{t}({o})" for t in tags for o in src.origins], dtype=object)
            write_split(
                tmp / f"{name}.parquet",
                to_uint8(torch.cat(draws)),
                np.tile(src.labels, n),
                np.tile(src.sample_ids, n),
                origins,
                meta,
            )


def _summary(
    result: Translator, before: dict[str, float], judge: str, n_images: int, select: str
) -> dict[str, Any]:
    """metrics/translate.json: the kept epoch's quality beside the untranslated images'. The
    `judge` figures (FID, KID, label preservation) use target labels: a diagnostic, never a
    choice; the label-free figures (`src_*`, `dom_fid`) and the score are what
    `translate.select: label_free` reads."""
    after = next(h for h in result.history if h["epoch"] == result.best_epoch)
    keys = [k for k in ("fid", "kid", "label_preservation", *LABEL_FREE) if k in after]
    return {
        "gan": result.architecture["kind"],
        "judge": f"{judge} (target-domain classifier features; uses target labels)",
        "n_images": n_images,
        **{k: after[k] for k in (*keys, SCORE)},
        "untranslated": {k: before[k] for k in keys},
        "select": select,
        "epoch": result.best_epoch,
        "epochs": result.epochs or len(result.history),
        "seconds": round(result.seconds, 1),
        **{k: v for k, v in result.architecture.items() if k == "reused_from"},
    }


def _write_grid(path: Path, x: torch.Tensor, translator: Translator, target: torch.Tensor) -> None:
    """Rows: source images, their translations, those translated back, and real target images
    (unrelated to the columns above them) to judge the translations' style against."""
    fake = translator.to_target(x)
    back = [] if translator.to_source is None else [translator.to_source(fake)]
    rows = torch.cat([x, fake, *back, target])
    grid = make_grid(rows, nrow=len(x), padding=2, normalize=True, value_range=(-1, 1))
    with atomic_path(path) as tmp:
        save_image(grid, str(tmp), format="png")


def _write_history(path: Path, history: list[dict], kept: int) -> None:
    """Per epoch: the oracle's figures, the label-free ones and `kept` (1 on the kept epoch)."""
    keys = ["epoch", "fid", "kid", "label_preservation", *LABEL_FREE, SCORE]
    keys = [k for k in keys if k in history[0]]
    lines = [",".join([*keys, "kept"])] + [
        ",".join([*(f"{h[k]:.6g}" for k in keys), str(int(h["epoch"] == kept))]) for h in history
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
