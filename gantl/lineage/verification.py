"""Recomputing what a lineage document records: md5 of every file out/dep, every file of a
folder against its `.dir` manifest (or, with none in the cache, DVC's folder hash), and the
SHA-256 of the raw files. A raw file that cannot be found is a finding (it cannot be shown to
match), unless the caller allows it: then it is only a note in `skipped`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text

from gantl.io import files_sha256
from gantl.lineage.hashes import dir_manifest, dir_md5, file_md5, manifest_md5, walk
from gantl.lineage.lock import Entry, load_lock, under
from gantl.lineage.raw import find_raw_files, raw_candidates


@dataclass(frozen=True)
class Finding:
    """One thing that no longer matches what was recorded."""

    path: str
    status: str  # modified | missing | extra
    recorded: str | None = None
    current: str | None = None
    algorithm: str = "md5"
    note: str | None = None  # what a missing raw file is, and where it was looked for

    @property
    def message(self) -> str:
        if self.status == "missing" and self.note:
            return f"{self.path}: missing ({self.note})"
        if self.status == "missing":
            return f"{self.path}: missing (recorded {self.algorithm} {self.recorded})"
        if self.status == "extra":
            return f"{self.path}: extra file, not in the recorded folder (now md5 {self.current})"
        return (
            f"{self.path}: modified (recorded {self.algorithm} {self.recorded}, now {self.current})"
        )


@dataclass
class Verification:
    """What `verify` checked, what changed, and what it could not check (and why)."""

    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, found: Iterable[Finding]) -> None:
        """Nested folders (data/prepared, data/prepared/source) report a change once."""
        for finding in found:
            if finding not in self.findings:
                self.findings.append(finding)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "findings": [{**asdict(f), "message": f.message} for f in self.findings],
            "skipped": self.skipped,
        }


def verify(root: Path, doc: dict[str, Any], allow_missing_raw: bool = False) -> Verification:
    """Recompute the hashes of every out, dep and raw input in `doc` and compare them.

    A raw file that resolves nowhere is a "missing" finding, one per file; with
    `allow_missing_raw` its record is skipped instead (a note in `skipped` names the files).
    """
    root = Path(root)
    result = Verification()
    all_entries = [e for s in load_lock(root).values() for e in (*s.outs, *s.deps)]
    for entry in _doc_entries(doc):
        result.checked += 1
        if entry.is_dir:
            result.add(_verify_dir(root, entry, all_entries))
        else:
            result.add(_verify_file(root, entry))
    for raw in doc["raw"]:
        result.checked += 1
        _verify_raw(root, raw, result, allow_missing_raw)
    return result


def report_lines(checked: Verification) -> list[Text]:
    """What `gantl lineage --verify` prints: notes, then one line per change or one line of OK."""
    lines = [Text(f"note: {note}", style="yellow") for note in checked.skipped]
    if checked.ok and checked.skipped:
        matched = checked.checked - len(checked.skipped)
        lines.append(
            Text(
                f"verified: {matched} of {checked.checked} recorded hashes match, "
                f"{len(checked.skipped)} skipped (raw files missing, see the notes)",
                "green",
            )
        )
        return lines
    if checked.ok:
        lines.append(Text(f"verified: all {checked.checked} recorded hashes match", "green"))
        return lines
    lines.append(
        Text(f"changed since recorded: {len(checked.findings)} of {checked.checked}", "bold red")
    )
    return lines + [Text(f"  {f.message}") for f in checked.findings]


def _doc_entries(doc: dict[str, Any]) -> list[Entry]:
    """Each distinct (path, md5) out and dep of every stage in the document."""
    entries: dict[tuple, Entry] = {}
    stack = list(doc["stages"])
    while stack:
        node = stack.pop()
        for raw in (*node["outs"], *node["deps"]):
            entry = Entry(**{k: raw[k] for k in ("path", "md5", "hash", "size", "nfiles")})
            entries.setdefault((entry.path, entry.md5), entry)
        stack += node["upstream"]
    return sorted(entries.values(), key=lambda e: e.path)


def _verify_file(root: Path, entry: Entry) -> list[Finding]:
    path = root / entry.path
    if not path.is_file():
        return [Finding(entry.path, "missing", entry.md5)]
    now = file_md5(path)
    return [] if now == entry.md5 else [Finding(entry.path, "modified", entry.md5, now)]


def _verify_dir(root: Path, entry: Entry, all_entries: list[Entry]) -> list[Finding]:
    """Per file against the folder's manifest where one is cached (or derivable), else whole."""
    base = root / entry.path
    listing = dir_manifest(root, entry.md5 or "") or _derived_manifest(root, entry, all_entries)
    if listing is None:
        if not base.is_dir():
            return [Finding(entry.path, "missing", entry.md5)]
        now = dir_md5(base, root)
        return [] if now == entry.md5 else [Finding(entry.path, "modified", entry.md5, now)]
    recorded = {e["relpath"]: e["md5"] for e in listing}
    present = set(walk(base, root)) if base.is_dir() else set()
    found = []
    for rel in sorted(recorded.keys() | present):
        path = f"{entry.path}/{rel}"
        if rel not in present:
            found.append(Finding(path, "missing", recorded[rel]))
        elif rel not in recorded:
            found.append(Finding(path, "extra", None, file_md5(base / rel)))
        elif (now := file_md5(base / rel)) != recorded[rel]:
            found.append(Finding(path, "modified", recorded[rel], now))
    return found


def _derived_manifest(root: Path, entry: Entry, all_entries: list[Entry]) -> list | None:
    """A manifest for a folder the cache has none for (deps are not cached), from the cached
    manifests of the outs that enclose it (dep data/prepared/source in out data/prepared) or
    that it holds (dep models holding out models/adda, …) — used only if it hashes to the
    recorded md5."""
    for outer in (o for o in all_entries if o.is_dir and o.path != entry.path):
        if not under(entry.path, outer.path):
            continue
        prefix = entry.path[len(outer.path) :].lstrip("/") + "/"
        listing = dir_manifest(root, outer.md5 or "") or []
        part = [
            {"md5": e["md5"], "relpath": e["relpath"][len(prefix) :]}
            for e in listing
            if e["relpath"].startswith(prefix)
        ]
        if part and manifest_md5(part) == entry.md5:
            return part
    held: dict[str, str] = {}
    for inner in (o for o in all_entries if o.path != entry.path and under(o.path, entry.path)):
        prefix = inner.path[len(entry.path) :].lstrip("/")
        if not inner.is_dir and inner.md5:
            held[prefix] = inner.md5
        for e in dir_manifest(root, inner.md5 or "") or []:
            held[f"{prefix}/{e['relpath']}"] = e["md5"]
    listing = [{"md5": md5, "relpath": rel} for rel, md5 in held.items()]
    return listing if listing and manifest_md5(listing) == entry.md5 else None


def _verify_raw(root: Path, raw: dict[str, Any], result: Verification, allow_missing: bool) -> None:
    label = f"raw {raw['role']} files ({raw['spec']})"
    found, missing = find_raw_files(raw, root)
    if missing:
        where = ", ".join(str(r) for r in raw_candidates(raw, root))
        if allow_missing:
            result.skipped.append(
                f"{label}: not verified (--allow-missing-raw), cannot find "
                f"{', '.join(missing)} (looked in {where}; set GANTL_DATA_DIR)"
            )
            return
        note = (
            f"raw {raw['role']} file of {raw['spec']}, looked in {where}; set GANTL_DATA_DIR, "
            "or pass --allow-missing-raw to skip it"
        )
        result.add([Finding(name, "missing", algorithm="sha256", note=note) for name in missing])
        return
    now = files_sha256(found)
    if now != raw["raw_sha256"]:
        result.add([Finding(label, "modified", raw["raw_sha256"], now, "sha256")])
