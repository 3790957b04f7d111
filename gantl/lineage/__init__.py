"""Lineage: where an artifact came from, read from `dvc.lock` back to the raw files.

DVC already records every stage run (cmd, params, md5 of each dep and out) in `dvc.lock`; this
package only reads that record — as YAML, plus the DVC cache's `.dir` manifests as JSON — so the
question "which data, code and params made this checkpoint?" needs neither DVC nor Prefect.

    lock.py          dvc.lock and dvc.yaml, as YAML
    hashes.py        DVC 3's file and folder hashes, the cache, .dvcignore
    raw.py           the raw inputs recorded in the prepared Parquet splits
    tracing.py       trace(): the document below
    verification.py  verify(): recompute what the document records
    render.py        tree(): the document as a rich Tree

`trace(root, artifact)` returns one JSON-able document (what `gantl lineage --json` prints)::

    {"artifact": "models/adda/seed_0/selected/model.safetensors",  # repo-relative, as asked
     "traced": "models/adda/seed_0/selected/model.safetensors",    # differs for models/champion
     "md5": "…",            # what dvc.lock (or its folder's manifest) recorded for it, or null
     "champion": null | {"path": "models/champion/champion.json", "model": "models/adda", ...},
     "stages": [<stage>],   # the stage(s) whose outs hold the artifact (one, unless it is a
                            # folder holding several stages' outs, e.g. `models`)
     "raw": [<raw>]}        # the leaves: raw inputs of every Parquet split the chain consumed
    <stage> = {"name": "adapt@adda", "cmd": "gantl stage adapt --method adda",
               "params": {"params.yaml": {...}},          # as recorded in dvc.lock
               "outs": [<entry>], "deps": [<entry> + "kind", "producers"],
               "commit": {"lock_commit", "head", "lock_state", "workspace_dirty"},
               "manifests": [{"path", "stage", "seed", "git_commit", "weights_sha256"}],
               "upstream": [<stage>],                     # producers of its deps, recursively
               "raw": [<raw>]}                            # on stages that read raw files
    <entry> = {"path", "md5", "hash", "size", "nfiles"}   # md5 of a folder ends in ".dir"
    <raw> = {"role", "domain", "spec", "raw_sha256", "raw_files", "data_dir", "read_from"}

A dep's `kind` is "stage" (another stage's out: its producer appears under `upstream`), "code"
(a .py file or a Python package folder) or "input" (anything else nothing produces).

`gantl lineage --verify --json` adds {"verify": {"ok", "checked", "findings", "skipped"}}.
"""

from gantl.lineage.hashes import dir_manifest, dir_md5, file_md5
from gantl.lineage.lock import LineageError, load_lock
from gantl.lineage.render import tree
from gantl.lineage.tracing import trace
from gantl.lineage.verification import Finding, Verification, report_lines, verify

__all__ = [
    "Finding",
    "LineageError",
    "Verification",
    "dir_manifest",
    "dir_md5",
    "file_md5",
    "load_lock",
    "report_lines",
    "trace",
    "tree",
    "verify",
]
