"""Building the lineage document (its shape is in `gantl.lineage`'s docstring): the stages from
dvc.lock, with the git state, checkpoint manifests and champion pointer beside them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gantl.lineage.hashes import dir_manifest
from gantl.lineage.lock import (
    LOCK,
    Entry,
    LineageError,
    LockStage,
    declared_outs,
    load_lock,
    producers,
    related,
    repo_path,
    under,
)
from gantl.lineage.raw import holds_parquet, raw_inputs

CHAMPION = "models/champion"
CHAMPION_FILE = "champion.json"
MANIFEST_GLOBS = ("manifest.json", "seed_*/manifest.json", "seed_*/selected/manifest.json")


def trace(root: Path, artifact: str | Path) -> dict[str, Any]:
    """The lineage document of `artifact`."""
    root = Path(root)
    stages = load_lock(root)
    asked = repo_path(root, artifact)
    champion = read_champion(root) if under(asked, CHAMPION) else None
    traced = repo_path(root, champion["model"]) if champion else asked
    found = producers(stages, traced)
    if not found:
        raise LineageError(_unknown_message(root, traced, stages))
    builder = _Builder(root, stages, git_state(root))
    nodes = [builder.node(stage, {traced}) for stage in found]
    raw = builder.collect_raw()
    return {
        "artifact": asked,
        "traced": traced,
        "md5": recorded_md5(root, found, traced),
        "champion": champion,
        "stages": nodes,
        "raw": raw,
    }


def recorded_md5(root: Path, found: list[LockStage], path: str) -> str | None:
    """The md5 dvc.lock recorded for `path`: an out's own, or its line in a folder manifest."""
    for out in (o for s in found for o in s.outs):
        if out.path == path:
            return out.md5
        if out.is_dir and under(path, out.path):
            rel = path[len(out.path) + 1 :]
            listing = dir_manifest(root, out.md5 or "") or []
            match = [e["md5"] for e in listing if e["relpath"] == rel]
            return match[0] if match else None
    return None


def git_state(root: Path) -> dict[str, Any]:
    """The commit that last changed dvc.lock, HEAD, and whether dvc.lock / the workspace is dirty.

    `lock_state` is "committed", "modified" or "untracked"; None fields mean "not a git repo".
    """

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
            )
        except OSError:
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", LOCK)
    if head is None or status is None:
        return {"lock_commit": None, "head": None, "lock_state": None, "workspace_dirty": None}
    lock_commit = git("log", "-1", "--format=%H", "--", LOCK) or None
    if status.startswith("??") or not (status or lock_commit):
        lock_state = "untracked"
    else:
        lock_state = "modified" if status else "committed"
    return {
        "lock_commit": lock_commit,
        "head": head,
        "lock_state": lock_state,
        "workspace_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def model_manifests(root: Path, outs: Iterable[Entry]) -> list[dict[str, Any]]:
    """Commit, seed and weights hash from each checkpoint manifest.json under the given outs."""
    found = []
    for out in outs:
        base = Path(root) / out.path
        if not base.is_dir():
            continue
        for pattern in MANIFEST_GLOBS:
            for path in sorted(base.glob(pattern)):
                try:
                    manifest = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                found.append(
                    {
                        "path": path.parent.relative_to(root).as_posix(),
                        **{k: manifest.get(k) for k in ("stage", "seed", "git_commit")},
                        "weights_sha256": manifest.get("weights_sha256"),
                    }
                )
    return found


def read_champion(root: Path) -> dict[str, Any]:
    """models/champion/champion.json: the promoted model's repo-relative path under `model`."""
    path = Path(root) / CHAMPION / CHAMPION_FILE
    if not path.is_file():
        raise LineageError(
            f"{path}: not found; expected the champion record "
            '{"model": "models/<name>", ...} that promoting a model writes'
        )
    try:
        record = json.loads(path.read_text())
    except ValueError as exc:
        raise LineageError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("model"), str):
        raise LineageError(f'{path}: expected a JSON object with "model": "models/<name>"')
    return {"path": f"{CHAMPION}/{CHAMPION_FILE}", **record}


def _unknown_message(root: Path, path: str, stages: dict[str, LockStage]) -> str:
    declared = declared_outs(root)
    owner = next((s for p, s in declared.items() if related(path, p)), None)
    if owner:
        return (
            f"{path}: declared by stage {owner} in dvc.yaml, but {LOCK} has no record of it "
            f"(run `dvc repro {owner}`)"
        )
    users = [s.name for s in stages.values() if any(under(path, d.path) for d in s.deps)]
    if users:
        what = f"it is an input (code or raw data) of {', '.join(users)}"
    else:
        what = "it exists" if (Path(root) / path).exists() else "it does not exist"
    outs = sorted({o.path for s in stages.values() for o in s.outs})
    return (
        f"{path}: no stage in {Path(root) / LOCK} produces it ({what}); "
        f"expected one of these outs or a path inside them: {', '.join(outs)}"
    )


@dataclass
class _Builder:
    """Builds stage nodes once each (shared sub-trees are the same dict) and records which
    paths of each stage's outs the chain consumed, to pick the raw leaves."""

    root: Path
    stages: dict[str, LockStage]
    commit: dict[str, Any]
    built: dict[str, dict[str, Any]] = field(default_factory=dict)
    consumed: dict[str, set[str]] = field(default_factory=dict)

    def node(self, stage: LockStage, via: set[str], path: tuple[str, ...] = ()) -> dict[str, Any]:
        if stage.name in path:
            raise LineageError(f"{LOCK}: stages form a cycle: {' → '.join((*path, stage.name))}")
        self.consumed.setdefault(stage.name, set()).update(via)
        if stage.name in self.built:
            return self.built[stage.name]
        deps, upstream = [], {}
        for dep in stage.deps:
            made_by = producers(self.stages, dep.path, exclude=stage.name)
            kind, names = self._kind(dep, made_by), [s.name for s in made_by]
            deps.append({**asdict(dep), "kind": kind, "producers": names})
            for s in made_by:
                upstream.setdefault(s.name, (s, set()))[1].add(dep.path)
        node = {
            "name": stage.name,
            "cmd": stage.cmd,
            "params": stage.params,
            "outs": [asdict(o) for o in stage.outs],
            "deps": deps,
            "commit": self.commit,
            "manifests": model_manifests(self.root, stage.outs),
            "upstream": [],
            "raw": [],
        }
        self.built[stage.name] = node
        for s, paths in upstream.values():
            node["upstream"].append(self.node(s, paths, (*path, stage.name)))
        return node

    def _kind(self, dep: Entry, made_by: list[LockStage]) -> str:
        if made_by:
            return "stage"
        path = self.root / dep.path
        code = dep.path.endswith(".py") or (path / "__init__.py").is_file()
        return "code" if code else "input"

    def collect_raw(self) -> list[dict[str, Any]]:
        """Attach raw inputs to the stages that read raw files, whose Parquet outs the chain read:
        those no upstream stage fed a Parquet split (root stages, or ones after a check that
        writes no data, e.g. `validate`)."""
        seen: dict[tuple, dict[str, Any]] = {}
        for name, node in self.built.items():
            ups = (self.stages[up["name"]].outs for up in node["upstream"])
            if any(holds_parquet(self.root, outs) for outs in ups):
                continue
            for raw in raw_inputs(self.root, self.stages[name].outs, self.consumed[name]):
                node["raw"].append(raw)
                seen.setdefault((raw["role"], raw["spec"], raw["raw_sha256"]), raw)
        return list(seen.values())
