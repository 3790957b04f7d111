"""Checkpoints: safetensors weights beside a JSON manifest that says where they came from.

The manifest holds the stage, its params, the hashes of its inputs, the git commit, package
versions, seed, device, wall time, metrics and the architecture record needed to rebuild the
model. Loading never unpickles: weights are safetensors.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

import gantl
from gantl.errors import DataError
from gantl.io import atomic_path, file_sha256, save_safetensors, write_json
from gantl.models.classifier import Architecture, Classifier

WEIGHTS = "model.safetensors"
MANIFEST = "manifest.json"
_PACKAGES = ("torch", "torchvision", "numpy", "pyarrow", "safetensors", "pydantic")


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD's commit (suffixed `-dirty` when tracked files changed), or None outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}-dirty" if dirty else head


def package_versions() -> dict[str, str]:
    versions = {"gantl": gantl.__version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def input_hashes(paths: dict[str, Path]) -> dict[str, str]:
    """SHA-256 of each named input file."""
    return {name: file_sha256(p) for name, p in paths.items()}


def save_weights(
    directory: Path, module: nn.Module, manifest: dict[str, Any], architecture: dict[str, Any]
) -> None:
    """Write a module's weights and its manifest (with the record that rebuilds it) atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(directory / WEIGHTS) as tmp:
        save_safetensors(state, tmp)
    manifest = {
        **manifest,
        "architecture": architecture,
        "weights_sha256": file_sha256(directory / WEIGHTS),
        "git_commit": git_commit(),
        "versions": package_versions(),
    }
    write_json(directory / MANIFEST, manifest)


def save_checkpoint(directory: Path, model: Classifier, manifest: dict[str, Any]) -> None:
    """Write a classifier's weights and manifest (with the architecture) atomically."""
    save_weights(directory, model, manifest, model.arch.to_dict())


def load_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: checkpoint manifest not found (has its stage run?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None


def restore_hint(path: Path) -> str:
    """The command that brings a tracked output back: `dvc checkout` of the stage output (the
    first two parts of a repo-relative path, e.g. models/dann), or `gantl data pull`."""
    parts = Path(path).parts
    if Path(path).is_absolute() or len(parts) < 2 or parts[0] not in ("models", "data"):
        return "restore it with `dvc checkout --force` (after `gantl data pull` if need be)"
    out = Path(*parts[:2]).as_posix()
    if parts[0] == "data" and len(parts) >= 3:
        out = Path(*parts[:3]).as_posix()
    return f"restore it with `dvc checkout --force {out}` (after `gantl data pull` if need be)"


def verified_weights(directory: Path, manifest: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of `directory`'s weights, after checking their SHA-256 against the manifest.

    A flipped byte inside a tensor leaves the safetensors header valid and the model loadable,
    only wrong, so the hash is the one check that catches it.
    """
    weights = Path(directory) / WEIGHTS
    if not weights.is_file():
        raise DataError(f"{weights}: checkpoint weights not found; {restore_hint(weights)}")
    expected = manifest.get("weights_sha256")
    if not isinstance(expected, str):
        raise DataError(f"{Path(directory) / MANIFEST}: no weights_sha256 to check the weights by")
    actual = file_sha256(weights)
    if actual != expected:
        raise DataError(
            f"{weights}: SHA-256 {actual[:12]}… does not match its manifest's weights_sha256 "
            f"{expected[:12]}… (corrupt or changed); {restore_hint(weights)}"
        )
    try:
        return load_file(str(weights))
    except SafetensorError as exc:
        raise DataError(f"{weights}: not readable safetensors ({exc})") from None


def load_into(module: nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    """Load `state` into `module` built from its manifest; a mismatch is one line, not a dump."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        first = lines[1] if len(lines) > 1 else lines[0]
        raise DataError(
            f"{Path(where) / MANIFEST}: its architecture record does not fit the weights "
            f"({first}); {restore_hint(Path(where) / MANIFEST)}"
        ) from None


def load_classifier(directory: Path) -> tuple[Classifier, dict[str, Any]]:
    """Rebuild the classifier recorded in `directory` and load its verified weights (no pickle)."""
    manifest = load_manifest(directory)
    try:
        arch = Architecture(**manifest["architecture"])
        model = Classifier(arch)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{Path(directory) / MANIFEST}: bad architecture record: {exc}") from None
    load_into(model, verified_weights(directory, manifest), directory)
    model.eval()
    return model, manifest
