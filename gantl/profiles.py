"""Profiles: overlays that rewrite a params file's values in place.

A params file holds exactly the values that run, and the protocol files of configs/ hold a
recipe sized for a CPU. A profile is a YAML overlay (section → key → value), such as
configs/profiles/paper.yaml for paper-size runs on a GPU; `gantl profile paper` writes its
values into params.yaml, keeping the file's comments and layout. The result is validated
before anything is written, so DVC, lineage and manifests only ever see a params file that
loads, holding the values a stage runs with.
"""

from __future__ import annotations

import copy
import io
import os
import reprlib
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RoundTripError

from gantl.config import Params, check_section_values, params_from_dict
from gantl.errors import ConfigError
from gantl.io import atomic_path

PROFILE_DIR = Path("configs/profiles")
_MISSING = object()


def known_profiles(profile_dir: Path = PROFILE_DIR) -> list[str]:
    """Names of the profiles in `profile_dir`: the stems of its *.yaml files."""
    profile_dir = Path(profile_dir)
    return sorted(p.stem for p in profile_dir.glob("*.yaml")) if profile_dir.is_dir() else []


def _profile_path(name_or_path: str, profile_dir: Path) -> Path:
    """A bare name is `<profile_dir>/<name>.yaml`; anything else is a path to a YAML file."""
    profile_dir = Path(profile_dir)
    is_name = "/" not in name_or_path and os.sep not in name_or_path
    is_name = is_name and not name_or_path.endswith((".yaml", ".yml"))
    if is_name:
        path = profile_dir / f"{name_or_path}.yaml"
        if path.is_file():
            return path
        if Path(name_or_path).is_file():
            return Path(name_or_path)
        known = ", ".join(known_profiles(profile_dir)) or "none"
        raise ConfigError(
            f"unknown profile '{name_or_path}': expected one of {known} ({profile_dir}/*.yaml) "
            f"or a path to an overlay YAML file"
        )
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"{path}: profile file not found")
    return path


def _section_models() -> dict[str, type[BaseModel]]:
    return {name: field.annotation for name, field in Params.model_fields.items()}


def load_profile(name_or_path: str, profile_dir: Path = PROFILE_DIR) -> dict[str, Any]:
    """The overlay `name_or_path` names, as {section: {key: value}}, keys and values checked.

    Each value is validated by its section's model, as in a params file (a negative `lr`,
    `epochs: true` or `.inf` fail here, naming the overlay file); checks that need the params
    file's other values run on the merged params (`apply_profile_file`, `params_from_dict`).
    """
    path = _profile_path(str(name_or_path), profile_dir)
    try:
        overlay = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    sections = _section_models()
    if not isinstance(overlay, dict) or not overlay:
        raise ConfigError(
            f"{path}: expected a mapping of section → key → value (got {reprlib.repr(overlay)})"
        )
    for section, values in overlay.items():
        if section not in sections:
            raise ConfigError(
                f"{path}: {section}: unknown section; expected one of {', '.join(sections)}"
            )
        if not isinstance(values, dict) or not values:
            raise ConfigError(
                f"{path}: {section}: expected a mapping of key → value (got {reprlib.repr(values)})"
            )
        fields = sections[section].model_fields
        for key in values:
            if key not in fields:
                raise ConfigError(
                    f"{path}: {section}.{key}: unknown key; expected one of {', '.join(fields)}"
                )
        check_section_values(section, values, str(path))
    return overlay


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_profile(raw: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """A new params mapping: `raw` with the overlay's values set into its sections."""
    return _merge(raw, overlay)


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(unset)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flow(value: Any) -> Any:
    """A plain value as ruamel nodes: lists and mappings in flow style, like the params files."""
    if isinstance(value, list):
        seq = CommentedSeq(_flow(v) for v in value)
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, dict):
        mapping = CommentedMap((k, _flow(v)) for k, v in value.items())
        mapping.fa.set_flow_style()
        return mapping
    return value


def _round_trip() -> YAML:
    rt = YAML()  # round trip: comments, key order, flow/block style and quotes survive
    rt.preserve_quotes = True
    rt.width = 4096  # never rewrap a line
    rt.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return rt


def apply_profile_file(
    params_path: Path, name_or_path: str, profile_dir: Path = PROFILE_DIR
) -> list[str]:
    """Write the overlay's values into the params file in place; return what changed.

    Comments and layout are kept. The rewritten file is validated before it replaces the old
    one (atomically), so an overlay that would make it invalid changes nothing. Returns one
    "section.key: old → new" line per value that changed (empty: the file already had them).
    """
    params_path = Path(params_path)
    overlay = load_profile(name_or_path, profile_dir)
    if not params_path.is_file():
        raise ConfigError(f"{params_path}: params file not found")
    text = params_path.read_text(encoding="utf-8")
    rt = _round_trip()
    try:
        raw = yaml.safe_load(text)
        doc = rt.load(text)
    except (yaml.YAMLError, RoundTripError) as exc:
        raise ConfigError(f"{params_path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(doc, dict):
        raise ConfigError(f"{params_path}: expected a mapping of sections")

    changes = []
    for section, values in overlay.items():
        if not isinstance(raw.get(section), dict):
            raise ConfigError(
                f"{params_path}: {section}: the overlay sets it, but the file has no such section"
            )
        for key, value in values.items():
            old = raw[section].get(key, _MISSING)
            if old is _MISSING or old != value or type(old) is not type(value):
                changes.append(f"{section}.{key}: {_show(old)} → {_show(value)}")
                doc[section][key] = _flow(value)

    out = io.StringIO()
    rt.dump(doc, out)
    new_text = out.getvalue()
    written = yaml.safe_load(new_text)
    if written != apply_profile(raw, overlay):  # the layout kept, but never another value
        raise ConfigError(f"{params_path}: could not rewrite in place; not changed")
    try:
        params_from_dict(written, str(params_path))
    except ConfigError as exc:  # a check across fields: the overlay's values each passed
        profile_path = _profile_path(str(name_or_path), profile_dir)
        raise ConfigError(
            f"{exc} (with the values of profile {profile_path}; {params_path} not changed)"
        ) from None
    if new_text != text:
        mode = stat.S_IMODE(params_path.stat().st_mode)
        target = params_path.resolve()  # a symlinked params file stays a link
        with atomic_path(target) as tmp:
            tmp.write_text(new_text, encoding="utf-8")
            tmp.chmod(mode)
    return changes
