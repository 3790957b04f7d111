"""Profiles: overlays written into a params file in place, comments kept, validated first."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from gantl.config import load_params
from gantl.errors import ConfigError
from gantl.profiles import (
    PROFILE_DIR,
    apply_profile,
    apply_profile_file,
    known_profiles,
    load_profile,
)
from tests.conftest import ROOT, TINY_PARAMS

REPO_PROFILES = ROOT / PROFILE_DIR


@pytest.fixture
def params_copy(tmp_path) -> Path:
    path = tmp_path / "params.yaml"
    shutil.copyfile(ROOT / "params.yaml", path)
    return path


def _overlay(tmp_path: Path, text: str, name: str = "custom") -> Path:
    path = tmp_path / "profiles" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_paper_profile_is_known_and_loads_by_name():
    assert "paper" in known_profiles(REPO_PROFILES)
    overlay = load_profile("paper", REPO_PROFILES)
    assert overlay["pretrain"] == {"epochs": 100, "width": 1.0}
    assert overlay["cyclegan"]["n_blocks"] == 6
    # a path names the same file
    assert load_profile(str(REPO_PROFILES / "paper.yaml"), Path("nowhere")) == overlay


def test_unknown_profile_name_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        load_profile("papr", REPO_PROFILES)
    assert "unknown profile 'papr'" in str(info.value)
    assert "paper" in str(info.value)


def test_missing_profile_path(tmp_path):
    with pytest.raises(ConfigError, match="profile file not found"):
        load_profile(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pretrian: {epochs: 3}\n", "pretrian: unknown section"),
        ("pretrain: {epoch: 3}\n", "pretrain.epoch: unknown key"),
        ("cyclegan: {epochs: 3, ngf: 8, dropout: 0.5}\n", "cyclegan.dropout: unknown key"),
        ("pretrain: 3\n", "pretrain: expected a mapping of key → value"),
        ("- pretrain\n", "expected a mapping of section → key → value"),
        ("", "expected a mapping of section → key → value"),
        ("pretrain: {epochs: [1\n", "not valid YAML"),
    ],
)
def test_bad_overlay_files_name_file_and_key(tmp_path, text, expected):
    path = _overlay(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile("custom", path.parent)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_apply_profile_is_a_deep_merged_copy():
    raw = yaml.safe_load(TINY_PARAMS)
    before = yaml.safe_load(TINY_PARAMS)
    merged = apply_profile(raw, {"pretrain": {"epochs": 7}, "experiment": {"seeds": [1, 2]}})
    assert raw == before  # the input is untouched
    assert merged["pretrain"] == {**raw["pretrain"], "epochs": 7}
    assert merged["experiment"]["seeds"] == [1, 2]
    assert merged["oracle"] == raw["oracle"]
    merged["oracle"]["epochs"] = 99
    assert raw["oracle"]["epochs"] == 2


def test_paper_profile_round_trip_keeps_comments_and_layout(params_copy):
    before = params_copy.read_text()
    changes = apply_profile_file(params_copy, "paper", REPO_PROFILES)
    after = params_copy.read_text()
    params = load_params(params_copy)
    assert (params.pretrain.epochs, params.pretrain.width) == (100, 1.0)
    assert (params.cyclegan.ngf, params.cyclegan.n_blocks, params.stargan.batch_size) == (64, 6, 16)
    assert params.experiment == load_params(ROOT / "params.yaml").experiment
    # same lines, comments and all; only the overlay's values differ
    old_lines, new_lines = before.splitlines(), after.splitlines()
    assert len(old_lines) == len(new_lines)
    differ = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert len(differ) == len(changes)
    for a, b in differ:
        assert a.split(":")[0] == b.split(":")[0]  # the same key
        assert a.partition("#")[2] == b.partition("#")[2]  # the same comment
        if "#" in a:
            assert a.index("#") == b.index("#")  # at the same column
    assert before.splitlines()[:4] == after.splitlines()[:4]  # the header comment
    assert "  width: 1.0              # DTN channel multiplier" in after
    assert "  data_dir: null" in after  # untouched nulls stay spelled out


def test_changes_list_old_and_new_values(params_copy):
    changes = apply_profile_file(params_copy, "paper", REPO_PROFILES)
    assert "pretrain.epochs: auto → 100" in changes
    assert "pretrain.width: 0.5 → 1.0" in changes
    assert "cyclegan.n_blocks: 2 → 6" in changes
    assert "stargan.batch_size: 32 → 16" in changes
    assert "cdan.epochs: auto → 200" in changes
    assert "translate.budget_minutes: 10.0 → null" in changes  # the paper's epochs in full
    assert not any(c.startswith("cyclegan.batch_size") for c in changes)  # 64 either way
    assert "pixelda.n_blocks: 4 → 6" in changes
    assert "stargan.n_critic: 1 → 5" in changes and "stargan.lambda_semantic: 1.0 → 0.0" in changes
    assert "pixelda.decay_epochs: 25 → 0" in changes  # its 50 epochs are the quick recipe's too
    assert len(changes) == 25
    # applying it again changes nothing and leaves the file alone
    text = params_copy.read_text()
    assert apply_profile_file(params_copy, "paper", REPO_PROFILES) == []
    assert params_copy.read_text() == text


def test_custom_overlay_by_path_sets_lists_and_nulls(tmp_path, params_copy):
    overlay = _overlay(
        tmp_path,
        "experiment: {seeds: [0, 1, 2]}\nprepare: {source_train_size: 500}\n"
        "translate: {train_size: null}\n",
    )
    changes = apply_profile_file(params_copy, str(overlay))
    assert changes == ["experiment.seeds: [0] → [0, 1, 2]", "prepare.source_train_size: null → 500"]
    line = next(ln for ln in params_copy.read_text().splitlines() if "seeds:" in ln)
    old = next(ln for ln in (ROOT / "params.yaml").read_text().splitlines() if "seeds:" in ln)
    assert line.startswith("  seeds: [0, 1, 2]  ") and line.index("#") == old.index("#")
    params = load_params(params_copy)
    assert params.experiment.seeds == [0, 1, 2] and params.prepare.source_train_size == 500


@pytest.mark.parametrize(
    ("text", "expected", "in_overlay"),
    [
        # valid alone, invalid with the params file's epochs: 1 (a check on the merged file)
        (
            "cyclegan: {decay_epochs: 50}\n",
            "cyclegan.decay_epochs: must be at most epochs (1) (got 50)",
            False,
        ),
        # invalid whatever the file holds: the overlay's own value, named in the overlay
        (
            "pretrain: {epochs: 0}\n",
            "pretrain.epochs: must be a positive number of epochs or 'auto' (got 0)",
            True,
        ),
        ("experiment: {source: 'mnsit:x'}\n", "unknown domain spec kind 'mnsit'", True),
    ],
)
def test_bad_overlay_value_leaves_params_file_byte_identical(
    tmp_path, params_copy, text, expected, in_overlay
):
    before = params_copy.read_bytes()
    overlay = _overlay(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        apply_profile_file(params_copy, "custom", overlay.parent)
    message = str(info.value)
    assert "\n" not in message and expected in message
    if in_overlay:
        assert message.startswith(f"{overlay}: ")
    else:
        assert message.startswith(f"{params_copy}: ")
        assert message.endswith(
            f"(with the values of profile {overlay}; {params_copy} not changed)"
        )
    assert params_copy.read_bytes() == before
    assert sorted(p.name for p in params_copy.parent.iterdir()) == ["params.yaml", "profiles"]


def test_unknown_profile_leaves_params_file_alone(params_copy):
    before = params_copy.read_bytes()
    with pytest.raises(ConfigError, match="unknown profile"):
        apply_profile_file(params_copy, "huge", REPO_PROFILES)
    assert params_copy.read_bytes() == before


def test_missing_params_file(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        apply_profile_file(tmp_path / "params.yaml", "paper", REPO_PROFILES)


def test_flow_style_params_file_and_file_mode(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(TINY_PARAMS)
    path.chmod(0o644)
    overlay = _overlay(tmp_path, "dann: {epochs: 5}\ncyclegan: {ngf: 8}\n")
    changes = apply_profile_file(path, str(overlay))
    assert changes == ["dann.epochs: auto → 5", "cyclegan.ngf: 4 → 8"]
    assert "dann: {epochs: 5, steps: 22, batch_size: 32}" in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o644
    expected = apply_profile(yaml.safe_load(TINY_PARAMS), yaml.safe_load(overlay.read_text()))
    assert yaml.safe_load(path.read_text()) == expected


def test_overlay_section_missing_from_params_file(tmp_path):
    raw = yaml.safe_load(TINY_PARAMS)
    del raw["stargan"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=r"stargan: the overlay sets it, but the file has no"):
        apply_profile_file(path, "paper", REPO_PROFILES)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pretrain: {lr: -0.5}\n", "pretrain.lr: Input should be greater than 0 (got -0.5)"),
        ("dann: {lr: fast}\n", "dann.lr: Input should be a valid number"),
        ("adda: {lr: .inf}\n", "adda.lr: must be a finite number (got inf)"),
        ("cdan: {momentum: .nan}\n", "cdan.momentum: must be a finite number (got nan)"),
        ("oracle: {epochs: true}\n", "oracle.epochs: must be a positive number of epochs"),
        ("stargan: {batch_size: 2.5}\n", "stargan.batch_size: must be an integer (got 2.5)"),
        ("cyclegan: {ngf: -8}\n", "cyclegan.ngf: Input should be greater than 0 (got -8)"),
        ("experiment: {seeds: [1, 1]}\n", "experiment.seeds: must be distinct non-negative"),
        ("translate: {budget_minutes: -1}\n", "translate.budget_minutes: Input should be greater"),
        # checks across fields run among the overlay's own values too
        (
            "cyclegan: {epochs: 10, decay_epochs: 50}\n",
            "cyclegan.decay_epochs: must be at most epochs (10) (got 50)",
        ),
    ],
)
def test_overlay_values_are_validated_by_their_section_model(tmp_path, params_copy, text, expected):
    """A profile's values go through the model of the section they override: the message names
    the overlay file and the field, and the params file is not touched."""
    overlay = _overlay(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile("custom", overlay.parent)
    assert str(info.value).startswith(f"{overlay}: {expected}"), str(info.value)
    assert "\n" not in str(info.value)
    before = params_copy.read_bytes()
    with pytest.raises(ConfigError, match=re.escape(f"{overlay}: {expected}")):
        apply_profile_file(params_copy, str(overlay))
    assert params_copy.read_bytes() == before


def test_overlay_values_are_not_checked_against_defaults(tmp_path, params_copy):
    """Checks across fields compare with the params file's values, never with a default the
    overlay leaves out: stargan's default epochs (100) would refuse decay_epochs 150."""
    raw = yaml.safe_load(params_copy.read_text())
    raw["stargan"] |= {"epochs": 300, "decay_epochs": 0}
    raw["translate"]["gan"] = "pixelda"
    params_copy.write_text(yaml.safe_dump(raw))
    overlay = _overlay(tmp_path, "stargan: {decay_epochs: 150}\ntranslate: {copies: 3}\n")
    changes = apply_profile_file(params_copy, str(overlay))
    assert changes == ["stargan.decay_epochs: 0 → 150", "translate.copies: 1 → 3"]
    params = load_params(params_copy)
    assert (params.stargan.decay_epochs, params.translate.copies) == (150, 3)
