"""The raw inputs at the leaves: recorded in the `gantl` metadata of the Parquet splits that
prepare wrote, and found again on disk where prepare read them."""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gantl.errors import GantlError
from gantl.lineage.hashes import cache_object, dir_manifest, walk
from gantl.lineage.lock import Entry, related


def raw_inputs(root: Path, outs: Iterable[Entry], consumed: set[str]) -> list[dict[str, Any]]:
    """One record per role from the metadata of the Parquet splits the chain consumed.

    The metadata is read from the DVC cache object of the recorded md5 where there is one (what
    dvc.lock recorded), else from the workspace file.
    """
    from gantl.data.store import read_meta  # pyarrow (and torch) only when there are splits

    by_role: dict[str, dict[str, Any]] = {}
    for rel, md5 in _parquet_files(root, outs):
        if not any(related(rel, c) for c in consumed):
            continue
        cached = cache_object(root, md5) if md5 else None
        try:
            meta = read_meta(cached or Path(root) / rel)
        except GantlError:
            continue
        if "raw_sha256" not in meta or meta.get("role") in by_role:
            continue
        by_role[meta.get("role")] = {
            "role": meta.get("role"),
            "domain": meta.get("domain"),
            "spec": meta.get("spec"),
            "raw_sha256": meta["raw_sha256"],
            "raw_files": list(meta.get("raw_files", [])),
            "data_dir": (meta.get("params", {}).get("experiment") or {}).get("data_dir"),
            "read_from": rel,
        }
    return list(by_role.values())


def holds_parquet(root: Path, outs: Iterable[Entry]) -> bool:
    """Whether any of the outs is (or holds) a Parquet split."""
    return next(_parquet_files(root, outs), None) is not None


def _parquet_files(root: Path, outs: Iterable[Entry]) -> Iterator[tuple[str, str | None]]:
    """(repo path, recorded md5) of each .parquet file in the outs, from manifests if cached."""
    for out in outs:
        if not out.is_dir:
            if out.path.endswith(".parquet"):
                yield out.path, out.md5
            continue
        listing = dir_manifest(root, out.md5 or "")
        if listing is None:
            base = Path(root) / out.path
            files = walk(base, root) if base.is_dir() else []
            listing = [{"relpath": r, "md5": None} for r in files]
        for item in listing:
            if item["relpath"].endswith(".parquet"):
                yield f"{out.path}/{item['relpath']}", item["md5"]


def raw_candidates(raw: dict[str, Any], root: Path) -> list[Path]:
    """Where a relative raw path may live, in the order prepare resolved them: the recorded
    data dir (relative to the repo), $GANTL_DATA_DIR, the repo, then site-packages."""
    roots = []
    if raw.get("data_dir"):
        roots.append(Path(root) / raw["data_dir"])
    if env := os.environ.get("GANTL_DATA_DIR"):
        roots.append(Path(env))
    return [*roots, Path(root), site_packages()]


def site_packages() -> Path:
    """Bundled data (sklearn, skimage) is recorded relative to this."""
    return Path(sysconfig.get_paths()["purelib"])


def find_raw_files(raw: dict[str, Any], root: Path) -> tuple[list[Path], list[str]]:
    """The raw files of a record that resolve on disk, and the names of those that do not."""
    found, missing = [], []
    for name in raw["raw_files"]:
        path = Path(name)
        options = [path] if path.is_absolute() else [r / path for r in raw_candidates(raw, root)]
        hit = next((p for p in options if p.is_file()), None)
        if hit:
            found.append(hit)
        else:
            missing.append(name)
    return found, missing
