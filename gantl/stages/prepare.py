"""The prepare stage: read both domains, bring them to one shape, split them, write Parquet."""

from __future__ import annotations

import logging
import os
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np

from gantl.config import Params
from gantl.data.domain import RawDomain
from gantl.data.prepare import PreparedDomain, convert_images, experiment_shape, split_domain
from gantl.data.specs import DATA_DIR_ENV, load_domain
from gantl.data.store import write_split
from gantl.errors import DataError
from gantl.io import atomic_dir, files_sha256, write_json
from gantl.stages.paths import PREPARED, split_path

log = logging.getLogger("gantl")


def portable_path(path: Path, data_dir: Path | None) -> str:
    """`path` relative to the data dir or to site-packages, so metadata (and with it the
    prepared files' hashes) does not depend on where the repo or the venv lives."""
    path = Path(path).resolve()
    env = os.environ.get(DATA_DIR_ENV)
    roots = [Path(data_dir) if data_dir else Path(env) if env else Path.cwd()]
    roots.append(Path(sysconfig.get_paths()["purelib"]))
    for root in roots:
        if path.is_relative_to(root.resolve()):
            return path.relative_to(root.resolve()).as_posix()
    return str(path)


def prepare(params: Params, out: Path = PREPARED) -> dict[str, Any]:
    """Read both domains, bring them to one shape, split them, and write the Parquet contract."""
    exp, cfg = params.experiment, params.prepare
    domains = {
        "source": load_domain(exp.source, exp.data_dir, seed=cfg.seed),
        "target": load_domain(exp.target, exp.data_dir, seed=cfg.seed),
    }
    if domains["source"].class_names != domains["target"].class_names:
        raise DataError(
            f"{exp.source} and {exp.target} have different class lists: "
            f"{list(domains['source'].class_names)} vs {list(domains['target'].class_names)}"
        )
    size, channels = experiment_shape(domains["source"], domains["target"], cfg)
    rng = np.random.default_rng(cfg.seed)
    train_sizes = {"source": cfg.source_train_size, "target": cfg.target_train_size}
    summary: dict[str, Any] = {"protocol": exp.protocol, "shape": [size, size, channels]}
    with atomic_dir(out) as tmp:
        for role, domain in domains.items():
            log.info("prepare %s: %s (%s)", role, domain.name, domain.spec)
            prepared = split_domain(domain, cfg, train_sizes[role], f"{role}_train_size", rng)
            summary[role] = _write_domain(params, role, domain, prepared, (size, channels), tmp)
            log.info("  %s: %s", domain.name, summary[role]["counts"])
        write_json(Path(tmp) / "prepare.json", summary)
    return summary


def _write_domain(
    params: Params,
    role: str,
    domain: RawDomain,
    prepared: PreparedDomain,
    shape: tuple[int, int],
    out: Path,
) -> dict[str, Any]:
    """Write one domain's splits with their metadata; return its counts and provenance."""
    exp = params.experiment
    raw_hash = files_sha256(domain.raw_files)
    about = {"domain": domain.name, "spec": domain.spec, "role": role}
    meta = {
        "class_names": list(domain.class_names),
        "raw_sha256": raw_hash,
        "raw_files": [portable_path(p, exp.data_dir) for p in domain.raw_files],
        "notes": list(prepared.notes),
        "params": {
            "experiment": exp.model_dump(mode="json"),
            "prepare": params.prepare.model_dump(),
        },
    }
    counts = {}
    for split, data in prepared.splits.items():
        raw_split, rows = prepared.raw_rows[split]
        write_split(
            split_path(out, role, split),
            convert_images(data.images, *shape),
            data.labels,
            np.array([f"{domain.name}/{raw_split}/{r}" for r in rows], dtype=object),
            data.origins,
            {**about, "split": split, **meta},
        )
        counts[split] = len(data)
    return {
        "domain": domain.name,
        "spec": domain.spec,
        "counts": counts,
        "raw_sha256": raw_hash,
        "notes": list(prepared.notes),
    }
