"""params.yaml validation: bad values fail with the file, the field and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gantl.config import load_params, params_from_dict
from gantl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_repo_params_are_valid_and_profile_applies():
    params = load_params(ROOT / "params.yaml")
    raw = _raw()
    quick = raw["profiles"]["quick"]["pretrain"]
    assert params.profile == "quick"
    assert params.pretrain.epochs == quick["epochs"]
    assert params.pretrain.width == quick["width"]
    assert params.pretrain.lr == raw["pretrain"]["lr"]  # untouched by the profile


def test_paper_profile_overrides_quick():
    raw = _raw()
    raw["profile"] = "paper"
    params = params_from_dict(raw)
    assert params.pretrain.epochs == raw["profiles"]["paper"]["pretrain"]["epochs"]
    assert params.pretrain.width == raw["pretrain"]["width"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["pretrain"].update(lr=-0.1), "pretrain.lr: Input should be greater than 0"),
        (lambda r: r["oracle"].update(model="resnet9"), "oracle.model: Input should be 'auto'"),
        (lambda r: r["prepare"].update(val_fraction=1.5), "prepare.val_fraction"),
        (lambda r: r["pretrain"].update(device="tpu"), "pretrain.device: must be 'auto'"),
        (lambda r: r["pretrain"].update(batch_size=0), "pretrain.batch_size"),
        (lambda r: r["experiment"].pop("source"), "experiment.source: Field required"),
        (lambda r: r.pop("oracle"), "oracle: Field required"),
        (lambda r: r["pretrain"].update(epoch=3), "pretrain.epoch: Extra inputs are not permitted"),
        (lambda r: r["experiment"].update(target="mnsit:x"), "unknown domain spec kind 'mnsit'"),
        (lambda r: r.update(profile="fast"), "profile: unknown profile 'fast'"),
        (lambda r: r["prepare"].update(image_size=4), "prepare.image_size"),
        (
            lambda r: r["profiles"]["quick"]["cyclegan"].update(decay_epochs=9),
            "cyclegan.decay_epochs: must be at most epochs (2)",
        ),
        (lambda r: r["stargan"].update(n_critic=0), "stargan.n_critic"),
        (lambda r: r["stargan"].update(extra_domains=["svhm:x"]), "unknown domain spec kind"),
        (lambda r: r["translate"].update(gan="pix2pix"), "translate.gan: Input should be"),
        (lambda r: r["adapt"].update(pixel_methods=["adda", "adda"]), "must not repeat"),
    ],
)
def test_bad_values_name_field_and_expectation(tmp_path, mutate, expected):
    raw = _raw()
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)
