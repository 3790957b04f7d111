"""Atomic writes and content hashes.

Every output goes to a temporary file beside its destination and is renamed into place, so a
crash or a bad input never leaves a half-written file where a good one used to be.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gantl.transaction import current, temporary


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Inside a stage's transaction (gantl.transaction) an output is staged instead, and swapped
    in with the stage's other outputs when the stage ends.
    """
    path = Path(path)
    transaction = current()
    if transaction is not None and transaction.covers(path):
        with transaction.staged(path, directory=False) as staged:
            yield staged
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = temporary(path.parent, f".{path.name}.", ".tmp", directory=False)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; swap it in for `path` only on success.

    The old directory (if any) is kept until the new one is complete, then removed. Inside a
    stage's transaction the directory is staged like `atomic_path`'s files.
    """
    path = Path(path)
    transaction = current()
    if transaction is not None and transaction.covers(path):
        with transaction.staged(path, directory=True) as staged:
            yield staged
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path.parent, f".{path.name}.", ".tmp", directory=True)
    old = path.with_name(f".{path.name}.old")
    try:
        yield tmp
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_safetensors(tensors: dict[str, Any], path: Path) -> None:
    """safetensors' save_file, with its I/O failures (a full disk) raised as the OSError they
    are, naming the file, instead of a SafetensorError the CLI cannot tell from a bug."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(tensors, str(path))
    except SafetensorError as exc:
        found = re.search(r"os error (\d+)", str(exc))
        if found is None:
            raise
        code = int(found.group(1))
        raise OSError(code, os.strerror(code), str(path)) from None


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write `text`, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def file_digest(path: Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of one file's bytes (sha256 for our records, md5 for DVC's)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of one file's bytes."""
    return file_digest(path, "sha256")


def files_sha256(paths: Iterable[Path], name: Callable[[Path], str] = lambda p: p.name) -> str:
    """One hash over several files: order-independent, sensitive to each file's name and bytes."""
    digest = hashlib.sha256()
    for label, file_hash in sorted((name(Path(p)), file_sha256(Path(p))) for p in paths):
        digest.update(f"{label}\0{file_hash}\n".encode())
    return digest.hexdigest()
