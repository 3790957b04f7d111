"""DVC 3's hashes, recomputed: md5 of a file's bytes, and a folder's hash.

A folder's hash is md5 of `json.dumps(sorted([{"md5", "relpath"}, …] by relpath),
sort_keys=True)` with ".dir" appended — the same bytes as its `.dir` manifest in the cache — over
the files DVC sees: all but .git/.hg and what the repo's root `.dvcignore` excludes (hidden files
and __pycache__ count).
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pathspec

from gantl.io import file_digest


def file_md5(path: Path) -> str:
    """md5 of a file's bytes, as DVC 3 records it."""
    return file_digest(path, "md5")


def dvcignore(root: Path) -> pathspec.PathSpec:
    """The patterns of `<root>/.dvcignore` (gitignore syntax); .dvcignore files in subfolders
    are not read."""
    try:
        lines = (Path(root) / ".dvcignore").read_text().splitlines()
    except OSError:
        lines = []
    return pathspec.GitIgnoreSpec.from_lines(lines)


def walk(base: Path, root: Path | None = None) -> list[str]:
    """Files under `base` as sorted POSIX relpaths, as DVC lists a folder: skipping .git/.hg
    and, given the repo `root`, what its .dvcignore excludes (ignored folders are pruned)."""
    spec, prefix = None, Path()
    if root is not None:
        try:
            prefix = Path(base).resolve().relative_to(Path(root).resolve())
            spec = dvcignore(root)
        except ValueError:  # outside the repo: nothing to ignore
            pass

    def ignored(rel: Path, suffix: str = "") -> bool:  # a trailing "/" marks a folder
        return spec is not None and spec.match_file((prefix / rel).as_posix() + suffix)

    files = []
    for dirpath, dirnames, filenames in os.walk(base):
        rel = Path(dirpath).relative_to(base)
        dirnames[:] = [
            d for d in dirnames if d not in (".git", ".hg") and not ignored(rel / d, "/")
        ]
        files += [(rel / f).as_posix() for f in filenames if f != ".git" and not ignored(rel / f)]
    return sorted(files)


def manifest_md5(listing: list[dict[str, Any]]) -> str:
    """DVC 3's folder hash of a manifest: md5 of its canonical JSON, plus ".dir"."""
    entries = sorted(
        ({"md5": e["md5"], "relpath": e["relpath"]} for e in listing), key=lambda e: e["relpath"]
    )
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def dir_md5(path: Path, root: Path | None = None) -> str:
    """DVC's hash of a folder, computed from its files (what dvc.lock records for folders);
    pass the repo `root` to leave out what its .dvcignore leaves out."""
    path = Path(path)
    return manifest_md5([{"md5": file_md5(path / r), "relpath": r} for r in walk(path, root)])


def cache_dir(root: Path) -> Path:
    """The DVC cache: `[cache] dir` of .dvc/config.local or .dvc/config, else .dvc/cache."""
    dvc = Path(root) / ".dvc"
    for name in ("config.local", "config"):
        parser = configparser.ConfigParser()
        try:
            parser.read(dvc / name)
        except configparser.Error:
            continue
        if parser.has_option("cache", "dir"):
            return (dvc / parser.get("cache", "dir").strip()).resolve()
    return dvc / "cache"


def cache_object(root: Path, md5: str) -> Path | None:
    """Where the DVC 3 cache keeps the object of `md5`, if it is there."""
    path = cache_dir(root) / "files" / "md5" / md5[:2] / md5[2:]
    return path if path.is_file() else None


def dir_manifest(root: Path, md5: str) -> list[dict[str, Any]] | None:
    """The cached `.dir` manifest of a folder hash: [{"md5", "relpath"}, ...], or None."""
    path = cache_object(root, md5) if md5.endswith(".dir") else None
    if path is None:
        return None
    try:
        listing = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return listing if isinstance(listing, list) else None
