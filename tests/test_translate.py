"""Translate stage, tiny config: translated Parquet keeps labels and ids; pixel + feature runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from gantl.checkpoint import load_classifier
from gantl.config import params_from_dict
from gantl.data.store import read_split
from gantl.errors import ConfigError, DataError
from gantl.models.cyclegan_nets import ResnetGenerator
from gantl.stages.adapt import adapt
from gantl.stages.evaluate import evaluate, load_model
from gantl.stages.inputs import load_adaptation_data
from gantl.stages.prepare import prepare
from gantl.stages.pretrain import oracle, pretrain
from gantl.stages.t2s import t2s
from gantl.stages.translate import translate
from gantl.training.batches import balanced_steps
from tests.conftest import TINY_PARAMS


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("translate")
    params = params_from_dict(yaml.safe_load(TINY_PARAMS))
    prepared, models = root / "data" / "prepared", root / "models"
    prepare(params, prepared)
    pretrain(params, prepared, models / "source")
    oracle(params, prepared, models / "oracle")
    summary = translate(
        params,
        prepared,
        models,
        translated=root / "data" / "translated",
        metrics=root / "metrics",
        plots=root / "plots",
        state_root=root / "state",
    )
    return root, params, summary


def test_translated_splits_keep_labels_ids_and_record_provenance(pipeline):
    root, _, summary = pipeline
    for split in ("train", "val"):
        original = read_split(root / "data" / "prepared" / "source" / f"{split}.parquet")
        translated = read_split(root / "data" / "translated" / "cyclegan" / f"{split}.parquet")
        assert np.array_equal(translated.labels, original.labels)
        assert np.array_equal(translated.sample_ids, original.sample_ids)
        assert translated.images.shape == original.images.shape
        assert not np.array_equal(translated.images, original.images)
        assert translated.origins[0] == f"cyclegan({original.origins[0]})"
        assert translated.meta["translated_by"]["gan"] == "cyclegan"
        assert "(cyclegan)" in translated.meta["domain"]
    assert (root / "plots" / "translate" / "cyclegan.png").stat().st_size > 0
    history = (root / "plots" / "translate" / "cyclegan.csv").read_text().splitlines()
    assert history[0].split(",") == [
        *("epoch", "fid", "kid", "label_preservation"),
        *("src_fid", "dom_fid", "src_agreement", "cycle_l1", "label_free_score", "kept"),
    ]
    assert history[1].endswith(",1")  # the one epoch is the kept one
    assert len(history) == 2
    assert set(summary) >= {"fid", "kid", "label_preservation", "untranslated", "src_fid"}
    assert "dom_fid" in summary and "dom_fid" in summary["untranslated"]
    assert summary["select"] == "label_free" and summary["epoch"] == 1
    assert summary["untranslated"]["cycle_l1"] == 0.0  # no translation, nothing to reconstruct
    assert (root / "models" / "cyclegan" / "model.safetensors").is_file()
    assert not (root / "state" / "cyclegan").exists()


def test_pixel_methods_train_on_translated_images(pipeline):
    root, params, _ = pipeline
    prepared, models = root / "data" / "prepared", root / "models"
    translated = root / "data" / "translated"
    for method in ("cyclegan+source_only", "cyclegan+adda"):
        manifests = adapt(params, method, prepared, models, translated)
        assert set(manifests[0]["inputs"]) >= {"translated/cyclegan/train.parquet"}
        assert (models / method / "seed_0" / "selected" / "model.safetensors").is_file()
    summary = evaluate(
        params,
        prepared,
        models,
        metrics=root / "metrics",
        plots=root / "plots",
        reports=root / "reports",
        names=["source_only", "oracle", "cyclegan+source_only", "cyclegan+adda"],
    )
    assert summary["results"]["cyclegan+source_only"]["selection"] == "translated-source val acc"
    assert "target_acc_upper_bound_mean" in summary["results"]["cyclegan+adda"]


def test_unknown_pixel_method_and_bad_image_size_are_clear_errors(pipeline, tmp_path):
    root, params, _ = pipeline
    with pytest.raises(ConfigError, match="unknown translator 'pix2pix'"):
        adapt(params, "pix2pix+adda", root / "data" / "prepared", root / "models")
    with pytest.raises(ConfigError, match="unknown method 'source_only'"):
        adapt(params, "source_only", root / "data" / "prepared", root / "models")
    raw = yaml.safe_load(TINY_PARAMS)
    raw["prepare"]["image_size"] = 18
    odd = params_from_dict(raw)
    prepare(odd, tmp_path / "prepared")
    with pytest.raises(ConfigError, match=r"prepare\.image_size"):
        translate(odd, tmp_path / "prepared", root / "models", tmp_path / "t")


def test_stargan_learns_extra_domains_in_one_model(pipeline, tmp_path):
    root, _, _ = pipeline
    raw = yaml.safe_load(TINY_PARAMS)
    raw["translate"] |= {"gan": "stargan", "train_size": 48}
    raw["stargan"]["extra_domains"] = ["bundled:mnist5k"]
    star = params_from_dict(raw)
    summary = translate(
        star,
        root / "data" / "prepared",
        root / "models",
        translated=tmp_path / "translated",
        metrics=tmp_path / "metrics",
        plots=tmp_path / "plots",
        state_root=tmp_path / "state",
    )
    manifest = json.loads((root / "models" / "stargan" / "manifest.json").read_text())
    assert manifest["architecture"]["c_dim"] == 3
    learned = [d["spec"] for d in manifest["architecture"]["domains"]]
    assert learned == [raw["experiment"]["source"], raw["experiment"]["target"], "bundled:mnist5k"]
    assert "extra_domains" in manifest["inputs"]
    train = read_split(tmp_path / "translated" / "stargan" / "train.parquet")
    assert train.has_labels and summary["gan"] == "stargan"


def test_a_stargan_serves_another_pair_of_its_domains(pipeline, tmp_path):
    """translate.reuse: an experiment whose target is the StarGAN's extra domain translates with
    that StarGAN, trains nothing, and writes its usual outputs; a wrong pinned hash, a domain
    the StarGAN never learned, or another translator kind are one-line errors."""
    root, _, _ = pipeline
    raw = yaml.safe_load(TINY_PARAMS)
    raw["translate"] |= {"gan": "stargan", "train_size": 48}
    raw["stargan"]["extra_domains"] = ["bundled:mnist5k"]
    prepared = root / "data" / "prepared"
    translate(params_from_dict(raw), prepared, root / "models", tmp_path / "t1", tmp_path / "m1",
              tmp_path / "p1", tmp_path / "s1")  # fmt: skip
    first = shutil.copytree(root / "models" / "stargan", tmp_path / "star")
    star = json.loads((first / "manifest.json").read_text())
    other = yaml.safe_load(TINY_PARAMS)  # the same source, the StarGAN's extra domain as target
    other["experiment"]["target"] = "bundled:mnist5k"
    other["prepare"]["channels"] = 3  # the StarGAN's shape: mnistm made it RGB
    pin = {"dir": str(first), "weights_sha256": star["weights_sha256"]}
    other["translate"] |= {"gan": "stargan", "reuse": pin}
    params = params_from_dict(other)
    prepared2, models2 = tmp_path / "prepared", tmp_path / "models"
    prepare(params, prepared2)
    pretrain(params, prepared2, models2 / "source")
    oracle(params, prepared2, models2 / "oracle")
    outputs = (tmp_path / "t2", tmp_path / "m2", tmp_path / "p2", tmp_path / "s2")
    summary = translate(params, prepared2, models2, *outputs)
    assert summary["reused_from"]["dir"] == pin["dir"] and summary["seconds"] == 0.0
    assert (summary["epoch"], summary["epochs"]) == (1, 1)  # the kept one of the one it trained
    record = json.loads((models2 / "stargan" / "manifest.json").read_text())
    assert (record["architecture"]["source_domain"], record["architecture"]["target_domain"]) == (
        0,
        2,
    )
    assert record["inputs"]["reused_translator"] == pin["weights_sha256"]
    translated = read_split(tmp_path / "t2" / "stargan" / "train.parquet")
    original = read_split(prepared2 / "source" / "train.parquet")
    assert np.array_equal(translated.labels, original.labels)
    assert not np.array_equal(translated.images, original.images)

    def fails(change, error, match):
        bad = yaml.safe_load(yaml.safe_dump(other))
        change(bad)
        with pytest.raises(error, match=match):
            translate(params_from_dict(bad), prepared2, models2, *outputs)

    fails(
        lambda r: r["translate"]["reuse"].update(weights_sha256="0" * 64),
        DataError,
        "but translate.reuse.weights_sha256 pins 0000",
    )
    fails(lambda r: r["translate"].update(gan="cyclegan"), ConfigError, "holds a stargan")
    for edit, match in [
        (lambda a: a["domains"][2].update(spec="bundled:other"), "never learned this target"),
        (lambda a: a.update(size=32), "translates 32 px × 3 channels"),
    ]:
        edited = json.loads(json.dumps(star))
        edit(edited["architecture"])
        (first / "manifest.json").write_text(json.dumps(edited))
        fails(lambda r: None, ConfigError, match)


def test_a_cyclegan_serves_the_reverse_pair_with_its_generators_swapped(pipeline, tmp_path):
    """Reused for target → source, a CycleGAN's G_BA becomes the new G_AB and its record names
    the new pair in order, so t2s and the grid read it like a CycleGAN trained that way."""
    root, _, _ = pipeline
    trained = root / "models" / "cyclegan"
    record = json.loads((trained / "manifest.json").read_text())
    raw = yaml.safe_load(TINY_PARAMS)
    exp = raw["experiment"]
    exp["source"], exp["target"] = exp["target"], exp["source"]
    pin = {"dir": str(trained), "weights_sha256": record["weights_sha256"]}
    raw["translate"]["reuse"] = pin
    params = params_from_dict(raw)
    prepared, models = tmp_path / "prepared", tmp_path / "models"
    prepare(params, prepared)
    pretrain(params, prepared, models / "source")
    oracle(params, prepared, models / "oracle")
    translate(params, prepared, models, tmp_path / "t", tmp_path / "m", tmp_path / "p", tmp_path)
    saved = load_file(str(models / "cyclegan" / "model.safetensors"))
    swap = {"G_AB": "G_BA", "G_BA": "G_AB"}
    for key, value in load_file(str(trained / "model.safetensors")).items():
        head, _, rest = key.partition(".")
        assert torch.equal(saved[f"{swap[head]}.{rest}"], value), key
    reused = json.loads((models / "cyclegan" / "manifest.json").read_text())["architecture"]
    assert [d["spec"] for d in reused["domains"]] == [exp["source"], exp["target"]]
    assert [d["spec"] for d in record["architecture"]["domains"]] == [exp["target"], exp["source"]]


def test_pixelda_translates_one_way_and_feeds_pixel_methods(pipeline, tmp_path):
    """PixelDA has no reverse generator: no reconstruction row or cycle error; its noise gives
    each source train image `copies` different translations; and they feed a pixel + feature
    model like any other translator's."""
    root, _, _ = pipeline
    raw = yaml.safe_load(TINY_PARAMS)
    raw["translate"] |= {"gan": "pixelda", "copies": 2}
    pix = params_from_dict(raw)
    prepared, models, translated = root / "data" / "prepared", root / "models", tmp_path / "t"
    summary = translate(
        pix,
        prepared,
        models,
        translated=translated,
        metrics=tmp_path / "metrics",
        plots=tmp_path / "plots",
        state_root=tmp_path / "state",
    )
    assert summary["gan"] == "pixelda" and "cycle_l1" not in summary
    assert set(summary) >= {"fid", "label_preservation", "src_fid", "src_agreement"}
    header = (tmp_path / "plots" / "translate" / "pixelda.csv").read_text().splitlines()[0]
    assert "cycle_l1" not in header.split(",") and "src_agreement" in header.split(",")
    manifest = json.loads((models / "pixelda" / "manifest.json").read_text())
    assert manifest["architecture"]["kind"] == "pixelda"
    train = read_split(translated / "pixelda" / "train.parquet")
    original = read_split(prepared / "source" / "train.parquet")
    n = len(original.labels)
    assert np.array_equal(train.labels, np.tile(original.labels, 2))
    assert np.array_equal(train.sample_ids[n:], original.sample_ids)
    assert train.origins[n] == f"pixelda#1({original.origins[0]})"
    assert not np.array_equal(train.images[:n], original.images)
    assert not np.array_equal(train.images[:n], train.images[n:])  # fresh noise, new images
    val = read_split(translated / "pixelda" / "val.parquet")
    assert len(val.labels) == len(read_split(prepared / "source" / "val.parquet").labels)
    # original + two translated copies: three views of each image, one image's worth of steps
    data = load_adaptation_data(prepared, translated=translated / "pixelda", mix=True)
    assert len(data.x_s) == 3 * n and data.source_epoch_rows == n
    assert data.steps_per_epoch(8) == balanced_steps((n, len(data.x_t)), 8)
    adapt(pix, "pixelda+adda", prepared, models, translated)
    assert (models / "pixelda+adda" / "seed_0" / "selected" / "model.safetensors").is_file()


def test_t2s_reads_target_images_through_g_ba_and_ensembles_average(pipeline):
    """source+t2s is the source model on G_BA(x); an ensemble's probabilities are its members'
    mean; both are scored beside the other models, and the ensemble is never recommended."""
    root, _, _ = pipeline
    raw = yaml.safe_load(TINY_PARAMS)
    raw["translate"]["t2s"] = ["source"]
    raw["evaluate"]["ensembles"] = ["cyclegan+adda&source+t2s"]
    params = params_from_dict(raw)
    prepared, models = root / "data" / "prepared", root / "models"
    if not (models / "cyclegan+adda").is_dir():
        adapt(params, "cyclegan+adda", prepared, models, root / "data" / "translated")
    manifests = t2s(params, "source", models)
    assert manifests[0]["inputs"].keys() == {"translator", "base_model"}
    model, manifest = load_classifier(models / "source+t2s" / "seed_0" / "selected")
    source, _ = load_classifier(models / "source" / "seed_0")
    channels = manifest["architecture"]["in_channels"]
    g_ba = ResnetGenerator(channels, channels, params.cyclegan.ngf, params.cyclegan.n_blocks)
    weights = load_file(str(models / "cyclegan" / "model.safetensors"))
    g_ba.load_state_dict({k.removeprefix("G_BA."): v for k, v in weights.items() if "G_BA." in k})
    x = read_split(prepared / "target" / "test.parquet").tensors()[0][:16]
    with torch.no_grad():
        assert torch.allclose(model(x), source(g_ba.eval()(x)), atol=1e-5)
    assert manifest["architecture"]["translator"]["kind"] == "cyclegan"
    names = ["source_only", "oracle", "cyclegan+adda", "source+t2s", "cyclegan+adda&source+t2s"]
    summary = evaluate(
        params,
        prepared,
        models,
        metrics=root / "metrics",
        plots=root / "plots",
        reports=root / "reports",
        names=names,
    )
    assert set(summary["results"]) == set(names)
    assert summary["recommended"] != "cyclegan+adda&source+t2s"
    ensemble, _ = load_model(models, "cyclegan+adda&source+t2s", 0)
    pixel, _ = load_classifier(models / "cyclegan+adda" / "seed_0" / "selected")
    with torch.no_grad():
        mean = (torch.softmax(pixel(x), 1) + torch.softmax(model(x), 1)) / 2
        assert torch.allclose(torch.softmax(ensemble(x), 1), mean, atol=1e-5)


def test_t2s_needs_a_two_way_translator_and_known_models():
    raw = yaml.safe_load(TINY_PARAMS)
    raw["translate"] |= {"gan": "pixelda", "t2s": ["source"]}
    with pytest.raises(ConfigError, match="pixelda has no target → source generator"):
        params_from_dict(raw)
    raw["translate"] |= {"gan": "cyclegan", "t2s": ["cyclegan+adda"]}
    with pytest.raises(ConfigError, match="no source-style classifier"):
        params_from_dict(raw)
    raw["translate"]["t2s"] = []
    raw["evaluate"]["ensembles"] = ["adda&nope"]
    with pytest.raises(ConfigError, match=r"unknown: \['nope'\]"):
        params_from_dict(raw)
