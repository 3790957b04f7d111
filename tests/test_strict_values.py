"""Strict params values: no .inf/.nan float, no `true`, 2.5 or "3" where an integer belongs.

Each case writes a params file and loads it through `load_params`, so the message checked is
the one a user sees: the file, the field and what was expected, on one line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gantl.config import Params, load_params, params_from_dict
from gantl.errors import ConfigError
from gantl.profiles import PROFILE_DIR, apply_profile, known_profiles, load_profile
from tests.conftest import ROOT, TINY_PARAMS

PARAMS_FILES = [ROOT / "params.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]


def _fields(kind: str) -> list[tuple[str, str]]:
    """(section, key) of every field of the Int or Float type, optional ones included (lists
    and unions with 'auto' say more than "must be an integer": checked one by one below)."""
    check = {"int": "_check_int", "float": "_check_float"}[kind]
    found = []
    for section, info in Params.model_fields.items():
        for key, field in info.annotation.model_fields.items():
            annotation = str(field.annotation)
            if check not in f"{annotation} {field.metadata}":
                continue
            if "list[" not in annotation and "Literal" not in annotation:
                found.append((section, key))
    return found


FLOATS, INTS = _fields("float"), _fields("int")
LEARNING_RATES = [(s, k) for s, k in FLOATS if re.fullmatch(r"lr(_[gd])?|\w+_lr", k)]


def _error_with(tmp_path: Path, section: str, key: str, value: object) -> tuple[Path, str]:
    """params.yaml with `section.key` set to `value`, and the ConfigError message it gives."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    return path, str(info.value)


def _load_with(tmp_path: Path, section: str, key: str, value: object) -> str:
    """The ConfigError message of params.yaml with `section.key` set to `value`, after the
    file and field it names."""
    path, message = _error_with(tmp_path, section, key, value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: {section}.{key}: "), message
    return message.removeprefix(f"{path}: {section}.{key}: ")


def _name(case: tuple[str, str]) -> str:
    return ".".join(case)


def test_the_field_lists_cover_the_models():
    assert len(FLOATS) > 40 and len(INTS) > 50
    assert {("pretrain", "lr"), ("adda", "disc_lr"), ("stargan", "lr_g"), ("stargan", "lr_d")} <= (
        set(LEARNING_RATES)
    )
    assert ("dann", "lr_alpha") not in LEARNING_RATES  # the annealing's α, not a rate
    assert {("translate", "budget_minutes"), ("cyclegan", "lambda_cycle")} <= set(FLOATS)
    assert {("translate", "copies"), ("prepare", "source_train_size")} <= set(INTS)


@pytest.mark.parametrize(("section", "key"), FLOATS, ids=map(_name, FLOATS))
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")], ids=str)
def test_every_float_must_be_finite(tmp_path, section, key, value):
    message = _load_with(tmp_path, section, key, value)
    assert message == f"must be a finite number (got {value!r})"


@pytest.mark.parametrize(("section", "key"), LEARNING_RATES, ids=map(_name, LEARNING_RATES))
@pytest.mark.parametrize("value", [0.0, -1e-3])
def test_every_learning_rate_is_positive(tmp_path, section, key, value):
    assert _load_with(tmp_path, section, key, value) == (
        f"Input should be greater than 0 (got {value!r})"
    )


@pytest.mark.parametrize(("section", "key"), INTS, ids=map(_name, INTS))
@pytest.mark.parametrize("value", [True, 2.5, 4.0, "3"], ids=repr)
def test_every_integer_takes_integers_only(tmp_path, section, key, value):
    assert _load_with(tmp_path, section, key, value) == f"must be an integer (got {value!r})"


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("experiment", "seeds", [0, True], "experiment.seeds.1: must be an integer (got True)"),
        ("pretrain", "epochs", True, "pretrain.epochs: must be a positive number of epochs"),
        ("dann", "epochs", 2.0, "dann.epochs: must be a positive number of epochs"),
        ("prepare", "image_size", True, "prepare.image_size: must be 'auto' or an integer"),
        ("prepare", "image_size", 28.0, "prepare.image_size: must be 'auto' or an integer"),
        ("prepare", "channels", True, "prepare.channels: must be 'auto', 1 or 3 (got True)"),
        ("prepare", "channels", 3.0, "prepare.channels: must be 'auto', 1 or 3 (got 3.0)"),
        ("pretrain", "lr", True, "pretrain.lr: must be a finite number (got True)"),
        ("pretrain", "lr", "fast", "pretrain.lr: Input should be a valid number"),
        (
            "translate",
            "budget_minutes",
            "inf",
            "translate.budget_minutes: Input should be a finite",
        ),
    ],
)
def test_other_numbers_name_field_and_expectation(tmp_path, section, key, value, expected):
    path, message = _error_with(tmp_path, section, key, value)
    assert message.startswith(f"{path}: {expected}"), message


def test_floats_still_take_ints_and_pyyaml_exponent_strings(tmp_path):
    text = (ROOT / "params.yaml").read_text()
    raw = yaml.safe_load(text)
    raw["pretrain"] |= {"lr": 1, "width": 1}
    raw["adda"]["lr"] = "1e-3"  # what PyYAML reads `lr: 1e-3` (no dot) as
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    params = load_params(path)
    assert (params.pretrain.lr, params.pretrain.width, params.adda.lr) == (1.0, 1.0, 1e-3)
    assert isinstance(params.pretrain.lr, float)
    assert yaml.safe_load("lr: 1e-3") == {"lr": "1e-3"}


@pytest.mark.parametrize("path", PARAMS_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_params_file_loads(path):
    assert isinstance(load_params(path), Params)


def test_tiny_params_loads():
    params = params_from_dict(yaml.safe_load(TINY_PARAMS), "TINY_PARAMS")
    assert params.prepare.image_size == 16 and params.oracle.epochs == 2


@pytest.mark.parametrize("profile", known_profiles(ROOT / PROFILE_DIR))
@pytest.mark.parametrize("path", PARAMS_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_profile_loads_and_applies_to_every_params_file(path, profile):
    overlay = load_profile(profile, ROOT / PROFILE_DIR)  # its values validated on their own
    raw = yaml.safe_load(path.read_text())
    assert isinstance(params_from_dict(apply_profile(raw, overlay), str(path)), Params)
