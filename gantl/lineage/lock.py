"""What dvc.lock recorded, and what dvc.yaml declares: read as YAML, without DVC."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gantl.errors import GantlError

LOCK = "dvc.lock"


class LineageError(GantlError):
    """dvc.lock, the artifact or the champion record cannot be traced."""


@dataclass(frozen=True)
class Entry:
    """One dep or out as dvc.lock records it."""

    path: str
    md5: str | None
    hash: str = "md5"
    size: int | None = None
    nfiles: int | None = None

    @property
    def is_dir(self) -> bool:
        return bool(self.md5) and self.md5.endswith(".dir")


@dataclass(frozen=True)
class LockStage:
    """One stage of dvc.lock: foreach stages are named like `adapt@adda`."""

    name: str
    cmd: str
    params: dict[str, Any]
    deps: tuple[Entry, ...]
    outs: tuple[Entry, ...]


def load_lock(root: Path) -> dict[str, LockStage]:
    """Every stage recorded in `<root>/dvc.lock`, by name."""
    path = Path(root) / LOCK
    if not path.is_file():
        raise LineageError(
            f"{path}: not found; expected the lock file `dvc repro` writes (run `dvc repro` first)"
        )
    try:
        lock = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise LineageError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(lock, dict) or not isinstance(lock.get("stages"), dict):
        raise LineageError(f"{path}: expected a mapping with a `stages:` section (DVC 3 lock)")
    stages = {}
    for name, raw in lock["stages"].items():
        cmd = raw.get("cmd", "")
        stages[name] = LockStage(
            name=name,
            cmd=" && ".join(cmd) if isinstance(cmd, list) else str(cmd),
            params=raw.get("params") or {},
            deps=tuple(_entry(path, name, d) for d in raw.get("deps") or []),
            outs=tuple(_entry(path, name, o) for o in raw.get("outs") or []),
        )
    return stages


def _entry(lock: Path, stage: str, raw: dict[str, Any]) -> Entry:
    """DVC 3 hashes the plain bytes (`hash: md5`); DVC 2 locks have no `hash:` and hashed text
    with CRLF→LF, which would make every check of theirs a false alarm."""
    if (found := raw.get("hash")) != "md5":
        what = "no `hash:` (a DVC 2 entry)" if found is None else f"hash {found!r}"
        raise LineageError(
            f"{lock}: stage {stage}, {raw.get('path')}: {what} is not supported; "
            "expected `hash: md5` as DVC 3 writes (run `dvc repro` with dvc>=3)"
        )
    return Entry(
        path=norm(str(raw["path"])),
        md5=raw.get("md5"),
        size=raw.get("size"),
        nfiles=raw.get("nfiles"),
    )


def norm(path: str) -> str:
    """A repo-relative POSIX path, as dvc.lock writes them."""
    return posixpath.normpath(path.replace(os.sep, "/")).lstrip("/") if path else path


def under(path: str, parent: str) -> bool:
    """`path` is `parent` or lies inside it (repo-relative POSIX paths)."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def related(a: str, b: str) -> bool:
    return under(a, b) or under(b, a)


def producers(stages: dict[str, LockStage], path: str, exclude: str = "") -> list[LockStage]:
    """Stages with an out equal to `path`, holding it, or inside it."""
    return [
        s
        for s in stages.values()
        if s.name != exclude and any(related(path, o.path) for o in s.outs)
    ]


def repo_path(root: Path, artifact: str | Path) -> str:
    """`artifact` as a repo-relative POSIX path (relative paths are taken relative to `root`)."""
    path = Path(artifact)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(Path(root).resolve())
        except ValueError:
            raise LineageError(f"{artifact}: not inside the repo {Path(root).resolve()}") from None
    rel = norm(path.as_posix())
    if rel in ("", ".") or rel.startswith(".."):
        raise LineageError(f"{artifact}: expected a path inside the repo, e.g. models/adda")
    return rel


def declared_outs(root: Path) -> dict[str, str]:
    """Out paths dvc.yaml declares, by stage name, with `${item}` and `${a.b}` filled in: to
    tell "declared but never run" apart from "no stage makes it" in error messages."""
    try:
        dvc_yaml = yaml.safe_load((Path(root) / "dvc.yaml").read_text()) or {}
        params = yaml.safe_load((Path(root) / "params.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    found: dict[str, str] = {}
    for name, stage in (dvc_yaml.get("stages") or {}).items():
        items = _foreach_items(stage.get("foreach"), params)
        body = stage.get("do", stage)
        for item in items if items is not None else [None]:
            stage_name = name if item is None else f"{name}@{item}"
            for out in _out_paths(body):
                resolved = _interpolate(out, item, params)
                if resolved is not None:
                    found[norm(resolved)] = stage_name
    return found


def _foreach_items(foreach: Any, params: dict) -> list | None:
    if foreach is None:
        return None
    if isinstance(foreach, str):
        foreach = _lookup(params, foreach.strip()[2:-1]) if foreach.startswith("${") else None
    return list(foreach) if isinstance(foreach, dict | list) else []


def _out_paths(body: dict) -> Iterator[str]:
    for key in ("outs", "metrics", "plots"):
        for out in body.get(key) or []:
            yield next(iter(out)) if isinstance(out, dict) else str(out)


def _lookup(params: dict, dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _interpolate(text: str, item: Any, params: dict) -> str | None:
    """Fill `${item}` and `${a.b}` from params.yaml; None when a name does not resolve."""
    missing = False

    def fill(match: re.Match) -> str:
        nonlocal missing
        value = item if match[1] == "item" else _lookup(params, match[1])
        missing |= value is None
        return str(value)

    filled = re.sub(r"\$\{\s*([\w.]+)\s*\}", fill, text)
    return None if missing else filled
