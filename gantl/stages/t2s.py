"""The t2s stage: a source-style classifier reads target images translated back to the source.

For each seed, `models/<base>+t2s/seed_<k>/selected` is `base`'s classifier behind the frozen
target → source generator of the translate stage (CycleGAN's G_BA, StarGAN's G toward the
source domain): nothing is trained, so this costs one translation per test image. `base` is a
models/ folder of a classifier that reads source-style images: `source`, or an adapted model
(dann, adda, cdan, their refined versions). Its manifest records the translator's and the base
model's weight hashes, and the base checkpoint's selected epoch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gantl.checkpoint import (
    load_classifier,
    load_into,
    load_manifest,
    save_checkpoint,
    verified_weights,
)
from gantl.config import T2S, TWO_WAY_GANS, Params
from gantl.errors import ConfigError
from gantl.io import atomic_dir
from gantl.models.classifier import Architecture, Classifier
from gantl.stages.manifest import manifest
from gantl.stages.paths import BASELINES, MODELS, checkpoint_dir, seed_dir

log = logging.getLogger("gantl")
# the target → source generator's keys: (prefix in the translator's weights, in the t2s model's)
REVERSE = {"cyclegan": ("G_BA.", ""), "stargan": ("", "generator.")}


def t2s(params: Params, base: str, models: Path = MODELS) -> dict[int, dict[str, Any]]:
    """Write models/<base>+t2s: each seed's `base` classifier reading G_BA(x)."""
    gan = params.translate.gan
    if gan not in TWO_WAY_GANS:
        raise ConfigError(
            f"translate.t2s: {gan} has no target → source generator; expected {TWO_WAY_GANS}"
        )
    translator_dir = Path(models) / gan
    record = load_manifest(translator_dir)
    weights = verified_weights(translator_dir, record)
    old, new = REVERSE[gan]
    reverse = {new + k.removeprefix(old): v for k, v in weights.items() if k.startswith(old)}
    name = next((n for n, folder in BASELINES.items() if folder == base), base)
    manifests = {}
    with atomic_dir(Path(models) / f"{base}{T2S}") as tmp:
        for seed in params.experiment.seeds:
            classifier, base_manifest = load_classifier(checkpoint_dir(models, name, seed))
            model = _behind_translator(classifier, record["architecture"], reverse, translator_dir)
            manifests[seed] = manifest(
                stage=f"t2s@{base}",
                method=f"{base}{T2S}",
                params={"translate": params.translate.model_dump()},
                inputs={
                    "translator": record["weights_sha256"],
                    "base_model": base_manifest["weights_sha256"],
                },
                seed=seed,
                device="cpu",
                seconds=0.0,
                metrics={"best_epoch": base_manifest["metrics"].get("best_epoch")},
            )
            save_checkpoint(seed_dir(tmp, seed) / "selected", model, manifests[seed])
    log.info("t2s: %s reads target images through %s's target → source generator", base, gan)
    return manifests


def _behind_translator(
    classifier: Classifier, translator: dict[str, Any], reverse: dict, source: Path
) -> Classifier:
    """A new classifier: `classifier`'s weights behind the generator whose weights are `reverse`."""
    arch = Architecture(**{**classifier.arch.to_dict(), "translator": translator})
    model = Classifier(arch)
    load_into(model.encoder.translator, reverse, source)
    model.encoder.encoder.load_state_dict(classifier.encoder.state_dict())
    model.head.load_state_dict(classifier.head.state_dict())
    return model.eval()
