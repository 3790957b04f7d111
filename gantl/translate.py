"""The translate stage: a GAN turns labelled source images into target-style ones, labels kept.

It trains the configured translator (CycleGAN or StarGAN) on source train and target train
images (target labels never reach it), then writes

    models/<gan>/                 generator weights (safetensors) + manifest with per-epoch metrics
    data/translated/<gan>/{train,val}.parquet   the source splits, translated; labels, ids kept
    plots/translate/<gan>.png     rows: source | translated | reconstructed | real target images
    plots/translate/<gan>.csv     FID, KID and label preservation per epoch
    metrics/translate.json        final FID / KID / label preservation, and the same before
                                  translation (source vs target) for comparison

Quality is judged on the oracle's features (a target-domain classifier; see
gantl.eval.gan_metrics); it is reported, never used to pick weights: the last epoch is kept.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.utils import make_grid, save_image

from gantl.checkpoint import input_hashes, load_classifier, save_weights
from gantl.config import Params
from gantl.data.prepare import convert_images
from gantl.data.specs import load_domain
from gantl.data.store import read_split, to_tensor, to_uint8, write_split
from gantl.errors import ConfigError
from gantl.eval.gan_metrics import translation_quality
from gantl.io import atomic_dir, atomic_path, files_sha256, write_json
from gantl.methods import cyclegan, stargan
from gantl.progress import progress_bar

log = logging.getLogger("gantl")

TRANSLATED = Path("data/translated")
STATE = Path(".gantl/state")  # resumable GAN training state (git- and DVC-ignored)


@dataclass(frozen=True)
class Translator:
    """A trained GAN reduced to what the pipeline needs from it."""

    to_target: Callable[[torch.Tensor], torch.Tensor]  # source images → target style
    to_source: Callable[[torch.Tensor], torch.Tensor]  # target style → source (reconstruction)
    weights: nn.Module  # what is saved (both generators for CycleGAN, G for StarGAN)
    architecture: dict[str, Any]
    history: list[dict]
    resumed_from: int
    device: str
    seconds: float


def train_translator(
    params: Params,
    x_s: torch.Tensor,
    x_t: torch.Tensor,
    classifier: nn.Module | None,
    state_dir: Path | None,
    run_id: str,
    on_step: Callable[[], None] | None,
    on_epoch: Callable[[int, Callable[[torch.Tensor], torch.Tensor]], dict[str, float]],
    extra: list[torch.Tensor] | None = None,
) -> Translator:
    """Train `params.translate.gan` on x_s (domain A / 0) and x_t (domain B / 1); StarGAN also
    learns the `extra` domains (2, 3, …)."""
    gan, seed = params.translate.gan, params.translate.seed
    channels = x_s.shape[1]
    if gan == "cyclegan":
        cfg = params.cyclegan
        r = cyclegan.train_cyclegan(
            x_s, x_t, cfg, seed, classifier, state_dir, run_id, on_step,
            lambda e, g: on_epoch(e, lambda x: cyclegan.translate(g, x)),
        )  # fmt: skip
        pair = nn.ModuleDict({"G_AB": r.G_AB, "G_BA": r.G_BA})
        arch = {"kind": "cyclegan", "channels": channels, "ngf": cfg.ngf, "n_blocks": cfg.n_blocks}
        return Translator(
            to_target=lambda x: cyclegan.translate(r.G_AB, x),
            to_source=lambda x: cyclegan.translate(r.G_BA, x),
            weights=pair, architecture=arch, history=r.history, resumed_from=r.resumed_from,
            device=r.device, seconds=r.seconds,
        )  # fmt: skip
    cfg = params.stargan
    domains = [x_s, x_t, *(extra or [])]
    k = len(domains)
    r = stargan.train_stargan(
        domains, cfg, seed, state_dir, run_id, on_step,
        lambda e, g: on_epoch(e, lambda x: stargan.translate_to(g, x, 1, k)),
    )  # fmt: skip
    arch = {
        "kind": "stargan", "channels": channels, "c_dim": k, "conv_dim": cfg.g_conv_dim,
        "n_blocks": cfg.g_blocks, "domains": ["source", "target", *cfg.extra_domains],
    }  # fmt: skip
    return Translator(
        to_target=lambda x: stargan.translate_to(r.G, x, 1, k),
        to_source=lambda x: stargan.translate_to(r.G, x, 0, k),
        weights=r.G, architecture=arch, history=r.history, resumed_from=r.resumed_from,
        device=r.device, seconds=r.seconds,
    )  # fmt: skip


def translate_stage(
    params: Params,
    prepared: Path,
    models: Path,
    translated: Path = TRANSLATED,
    metrics: Path = Path("metrics"),
    plots: Path = Path("plots"),
    state_root: Path = STATE,
) -> dict[str, Any]:
    """Train the translator and write the translated source splits, the grid and the metrics."""
    gan, tcfg = params.translate.gan, params.translate
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
    x_s, _ = split["source", "train"].tensors()
    x_t, _ = split["target", "train"].tensors()  # target labels stop here
    g = torch.Generator().manual_seed(tcfg.seed)
    if tcfg.train_size is not None:
        x_s = x_s[torch.randperm(len(x_s), generator=g)[: tcfg.train_size]]
        x_t = x_t[torch.randperm(len(x_t), generator=g)[: tcfg.train_size]]
    x_sv, y_sv = split["source", "val"].tensors()
    x_tv, _ = split["target", "val"].tensors()
    m = tcfg.metrics_samples
    probe = torch.randperm(len(x_sv), generator=g)[:m]
    x_probe, y_probe = x_sv[probe], y_sv[probe]
    x_real = x_tv[torch.randperm(len(x_tv), generator=g)[:m]]
    seed0 = params.experiment.seeds[0]
    judge, _ = load_classifier(Path(models) / "oracle" / f"seed_{seed0}")
    source_model, _ = load_classifier(Path(models) / "source" / f"seed_{seed0}")

    def on_epoch(epoch: int, to_target: Callable[[torch.Tensor], torch.Tensor]) -> dict:
        q = translation_quality(judge, to_target(x_probe), y_probe, x_real, seed=tcfg.seed)
        log.info(
            "  %s epoch %d: FID %.2f  KID %.4f  label preservation %.4f",
            gan, epoch, q["fid"], q["kid"], q["label_preservation"],
        )  # fmt: skip
        return q

    inputs = input_hashes(
        {f"{r}/{n}.parquet": Path(prepared) / r / f"{n}.parquet" for r, n in split}
        | {"source_model": Path(models) / "source" / f"seed_{seed0}" / "model.safetensors"}
        | {"oracle_model": Path(models) / "oracle" / f"seed_{seed0}" / "model.safetensors"}
    )
    extra, extra_files = [], []
    if gan == "stargan":
        for spec in params.stargan.extra_domains:
            domain = load_domain(spec, params.experiment.data_dir, seed=tcfg.seed)
            split_ = domain.splits.get("train") or domain.splits["test"]
            x = to_tensor(convert_images(split_.images, h, x_s.shape[1]))
            extra.append(x[torch.randperm(len(x), generator=g)[: tcfg.train_size or len(x)]])
            extra_files += list(domain.raw_files)
            log.info("translate: stargan also learns %s (%d images)", spec, len(extra[-1]))
    if extra_files:
        inputs["extra_domains"] = files_sha256(extra_files)
    gan_cfg = getattr(params, gan)
    sizes = [len(x_s), len(x_t), *(len(x) for x in extra)]
    steps = max(1, max(sizes) // gan_cfg.batch_size) * gan_cfg.epochs
    state_dir = Path(state_root) / gan
    with progress_bar(steps, f"translate ({gan})") as bar:
        log.info("translate: %s on %d source and %d target images", gan, len(x_s), len(x_t))
        result = train_translator(
            params, x_s, x_t, source_model, state_dir, str(sorted(inputs.items())), bar.advance,
            on_epoch, extra,
        )  # fmt: skip
    before = translation_quality(judge, x_probe, y_probe, x_real, seed=tcfg.seed)
    after = result.history[-1]
    manifest = {
        "stage": f"translate@{gan}",
        "params": {"translate": tcfg.model_dump(), gan: gan_cfg.model_dump()},
        "inputs": inputs,
        "seed": tcfg.seed,
        "device": result.device,
        "wall_time_s": round(result.seconds, 3),
        "resumed_from_epoch": result.resumed_from,
        "metrics": {"history": result.history},
    }
    out_dir = Path(translated) / gan
    with atomic_dir(Path(models) / gan) as tmp:
        save_weights(tmp, result.weights, manifest, result.architecture)
    with atomic_dir(out_dir) as tmp:
        for name in ("train", "val"):
            src = split["source", name]
            images = result.to_target(src.tensors()[0])
            meta = {
                **{k: v for k, v in src.meta.items() if k not in ("shape", "num_rows")},
                "domain": f"{src.meta['domain']} → {split['target', name].meta['domain']} ({gan})",
                "translated_by": {"gan": gan, "seed": tcfg.seed, "inputs": inputs},
            }
            origins = np.asarray([f"{gan}({o})" for o in src.origins], dtype=object)
            write_split(
                tmp / f"{name}.parquet", to_uint8(images), src.labels, src.sample_ids, origins, meta
            )
    n = tcfg.grid_images
    _write_grid(Path(plots) / "translate" / f"{gan}.png", x_probe[:n], result, x_real[:n])
    _write_history(Path(plots) / "translate" / f"{gan}.csv", result.history)
    summary = {
        "gan": gan,
        "judge": f"oracle seed {seed0} (target-domain classifier features)",
        "n_images": len(x_probe),
        "fid": after["fid"],
        "kid": after["kid"],
        "label_preservation": after["label_preservation"],
        "untranslated": {k: before[k] for k in ("fid", "kid", "label_preservation")},
        "epochs": len(result.history),
        "seconds": round(result.seconds, 1),
    }
    write_json(Path(metrics) / "translate.json", summary)
    shutil.rmtree(state_dir, ignore_errors=True)  # a finished run needs no resume state
    log.info(
        "translate: %s FID %.2f (untranslated %.2f), label preservation %.4f",
        gan, summary["fid"], before["fid"], summary["label_preservation"],
    )  # fmt: skip
    return summary


def _write_grid(path: Path, x: torch.Tensor, translator: Translator, target: torch.Tensor) -> None:
    """Rows: source images, their translations, those translated back, and real target images
    (unrelated to the columns above them) to judge the translations' style against."""
    fake = translator.to_target(x)
    rows = torch.cat([x, fake, translator.to_source(fake), target])
    grid = make_grid(rows, nrow=len(x), padding=2, normalize=True, value_range=(-1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_image(grid, str(tmp), format="png")


def _write_history(path: Path, history: list[dict]) -> None:
    keys = ["epoch", "fid", "kid", "label_preservation"]
    lines = [",".join(keys)] + [",".join(f"{h[k]:.6g}" for k in keys) for h in history]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
