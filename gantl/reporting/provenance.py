"""Where the results came from, in brief: the commit, the prepared data's hashes and the
params that differ from their defaults. `gantl lineage` gives the whole chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from gantl.config import Params
from gantl.lineage.lock import LineageError, load_lock
from gantl.lineage.tracing import git_state
from gantl.stages.paths import PREPARED, ROLES, SPLITS, split_path

META_KEY = b"gantl"  # the prepared splits' metadata key (gantl.data.store)
REQUIRED = object()  # a field without a default


def prepared_splits(root: Path) -> list[dict[str, Any]]:
    """Role, split, domain, spec, rows and raw-input hash of each prepared Parquet file, read
    from its metadata alone (no rows are read)."""
    import pyarrow.parquet as pq

    found = []
    for role in ROLES:
        for split in SPLITS:
            path = split_path(Path(root) / PREPARED, role, split)
            try:
                meta = json.loads((pq.read_schema(path).metadata or {})[META_KEY])
            except (OSError, KeyError, ValueError):
                continue
            found.append(
                {"role": role, "split": split, "path": path.relative_to(root).as_posix()}
                | {k: meta.get(k) for k in ("domain", "spec", "num_rows", "raw_sha256")}
            )
    return found


def prepared_md5(root: Path) -> str | None:
    """The md5 dvc.lock recorded for data/prepared (its folder hash), if there is one."""
    try:
        stages = load_lock(root)
    except LineageError:
        return None
    for stage in stages.values():
        for out in stage.outs:
            if out.path.rstrip("/") == PREPARED.as_posix():
                return out.md5
    return None


def commit(root: Path) -> dict[str, Any]:
    """HEAD, the commit that last changed dvc.lock, and whether the workspace is dirty."""
    return git_state(root)


def _jsonable(value: Any) -> Any:
    value = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return json.loads(json.dumps(value, default=str))


def changed_params(params: Params) -> list[tuple[str, Any, Any]]:
    """(dotted key, value, default) for every field whose value differs from its default, in
    the order of params.yaml; fields without a default (experiment.protocol, …) have REQUIRED."""
    changed: list[tuple[str, Any, Any]] = []

    def walk(model: BaseModel, prefix: str) -> None:
        for name, info in type(model).model_fields.items():
            key, value = f"{prefix}{name}", getattr(model, name)
            if info.is_required():
                if isinstance(value, BaseModel):
                    walk(value, f"{key}.")
                else:
                    changed.append((key, _jsonable(value), REQUIRED))
                continue
            default = info.get_default(call_default_factory=True)
            if _jsonable(value) != _jsonable(default):
                changed.append((key, _jsonable(value), _jsonable(default)))

    walk(params, "")
    return changed
