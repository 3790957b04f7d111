"""params.yaml validation: bad values fail with the file, the field and what was expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gantl.config import Params, load_params, params_from_dict, read_params_file
from gantl.errors import ConfigError
from gantl.profiles import apply_profile

ROOT = Path(__file__).resolve().parents[1]


def _raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


PARAMS_FILES = [ROOT / "params.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]
PAPER = ROOT / "configs" / "profiles" / "paper.yaml"


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", PARAMS_FILES, ids=_name)
def test_params_files_validate_as_written(path):
    raw = read_params_file(path)
    assert "profile" not in raw and "profiles" not in raw
    params = load_params(path)
    for section, values in raw.items():  # every value written is the value that runs
        for key, value in values.items():
            expected = Path(value) if key == "data_dir" and value is not None else value
            assert getattr(getattr(params, section), key) == expected, f"{section}.{key}"


@pytest.mark.parametrize("path", PARAMS_FILES, ids=_name)
def test_paper_profile_applies_to_every_params_file(path):
    overlay = yaml.safe_load(PAPER.read_text())
    params = params_from_dict(apply_profile(read_params_file(path), overlay), _name(path))
    for section, values in overlay.items():
        for key, value in values.items():
            assert getattr(getattr(params, section), key) == value
    assert params.experiment == load_params(path).experiment  # only what the overlay names


def test_repo_params_are_the_cpu_recipe():
    params = load_params(ROOT / "params.yaml")
    assert (params.pretrain.epochs, params.pretrain.steps, params.pretrain.width) == (
        "auto",
        560,
        0.5,
    )
    assert (params.cyclegan.epochs, params.cyclegan.decay_epochs, params.cyclegan.ngf) == (1, 0, 16)


def test_stale_profile_keys_are_rejected_with_a_pointer():
    raw = _raw() | {"profile": "quick"}
    with pytest.raises(ConfigError, match=r"^params\.yaml: profile: profiles were removed"):
        params_from_dict(raw, "params.yaml")
    raw = _raw() | {"profiles": {"quick": {}}}
    with pytest.raises(ConfigError, match="gantl profile <name>"):
        params_from_dict(raw, "params.yaml")


def test_config_does_not_import_the_data_readers():
    heavy = ("gantl.data.specs", "h5py", "scipy", "PIL", "torch")
    code = (
        "import sys, gantl.config; "
        f"bad = [m for m in {heavy!r} if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _every_section_bad_value() -> list[tuple[str, str, object]]:
    """One invalid (section, key, value) per section."""
    return [
        ("experiment", "seeds", [-1]),
        ("prepare", "val_fraction", 1.5),
        ("pretrain", "epochs", 0),
        ("oracle", "width", 0),
        ("adapt", "validator", "accuracy"),
        ("dann", "momentum", 1.0),
        ("adda", "beta1", -0.5),
        ("cdan", "randomized_dim", 0),
        ("refine", "beta", -1.0),
        ("translate", "metrics_samples", 1),
        ("cyclegan", "gan_loss", "wgan"),
        ("stargan", "d_repeat", 0),
        ("pixelda", "gan_loss", "wgan"),
        ("evaluate", "device", "tpu"),
        ("runtime", "nproc", 0),
    ]


def test_every_section_has_a_bad_value_case():
    assert {s for s, _, _ in _every_section_bad_value()} == set(Params.model_fields)


@pytest.mark.parametrize(
    "path", [*PARAMS_FILES, PAPER], ids=lambda p: _name(p) + (" + paper" if p == PAPER else "")
)
@pytest.mark.parametrize(("section", "key", "value"), _every_section_bad_value())
def test_bad_value_in_any_section_names_file_and_field(tmp_path, path, section, key, value):
    raw = read_params_file(ROOT / "params.yaml" if path == PAPER else path)
    if path == PAPER:
        raw = apply_profile(raw, yaml.safe_load(PAPER.read_text()))
    raw.setdefault(section, {})[key] = value  # runtime is optional: absent from older files
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_params(bad)
    assert str(info.value).startswith(f"{bad}: {section}.{key}"), str(info.value)
    assert f"(got {value!r})" in str(info.value)


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
        (lambda r: r.update(profile="fast"), "profile: profiles were removed"),
        (lambda r: r["prepare"].update(image_size=4), "prepare.image_size"),
        (
            lambda r: r["cyclegan"].update(decay_epochs=9),
            "cyclegan.decay_epochs: must be at most epochs (1)",
        ),
        (lambda r: r["stargan"].update(n_critic=0), "stargan.n_critic"),
        (lambda r: r["stargan"].update(extra_domains=["svhm:x"]), "unknown domain spec kind"),
        (lambda r: r["translate"].update(gan="pix2pix"), "translate.gan: Input should be"),
        (lambda r: r["adapt"].update(pixel_methods=["adda", "adda"]), "must not repeat"),
        (
            lambda r: r["translate"].update(gan="cyclegan", copies=3),
            "translate: copies: cyclegan translates each image one way only",
        ),
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


def test_refine_names_models_that_a_stage_makes():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["refine"]["methods"] = ["source", "adda", "cyclegan+source_only"]
    assert params_from_dict(raw).refined_models == [
        "source+refine",
        "adda+refine",
        "cyclegan+source_only+refine",
    ]
    raw["refine"]["methods"] = ["cdan"]  # a real method, but adapt.methods does not make it
    with pytest.raises(ConfigError, match=r"refine\.methods: \['cdan'\] are made by no stage"):
        params_from_dict(raw)
    raw["refine"]["methods"] = ["coral"]
    with pytest.raises(ConfigError, match=r"refine\.methods: .*unknown method 'coral'"):
        params_from_dict(raw)
