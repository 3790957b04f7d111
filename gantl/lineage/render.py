"""The lineage document as a rich Tree, what `gantl lineage` prints without --json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rich.text import Text
from rich.tree import Tree


def tree(doc: dict[str, Any]) -> Tree:
    """The document as a rich Tree: artifact, then each stage with its params, hashes and
    commit, then the stages that made its inputs, down to the raw files."""
    md5 = f"  md5 {doc['md5']}" if doc.get("md5") else ""
    traced = f" → {doc['traced']}" if doc["traced"] != doc["artifact"] else ""
    top = Tree(Text.assemble((doc["artifact"], "bold"), traced, (md5, "dim")))
    if doc["champion"]:
        champ = top.add(Text.assemble(("champion ", "bold magenta"), doc["champion"]["path"]))
        for key, value in doc["champion"].items():
            if key != "path":
                champ.add(Text(f"{key}: {_short_value(value)}"))
    shown: set[str] = set()
    for node in doc["stages"]:
        _stage_tree(top, node, shown)
    return top


def _stage_tree(parent: Tree, node: dict[str, Any], shown: set[str]) -> None:
    label = Text.assemble(("stage ", "dim"), (node["name"], "bold cyan"), "  ", (node["cmd"], ""))
    if node["name"] in shown:
        parent.add(Text.assemble(label, (" (shown above)", "dim")))
        return
    shown.add(node["name"])
    branch = parent.add(label)
    branch.add(_commit_text(node["commit"]))
    for file, values in node["params"].items():
        prefix = "" if file == "params.yaml" else f"{file}:"
        params = "  ".join(f"{prefix}{k}={_short_value(v)}" for k, v in _flatten(values))
        branch.add(Text.assemble(("params ", "bold"), params))
    outs = branch.add(Text("outs", style="bold"))
    for out in node["outs"]:
        outs.add(_entry_text(out))
    for manifest in node["manifests"]:
        branch.add(_manifest_text(manifest))
    code = [d for d in node["deps"] if d["kind"] != "stage"]
    if code:
        items = [f"{d['path']} {_short_md5(d['md5'])}" for d in code]
        branch.add(Text.assemble(("code ", "bold"), " · ".join(items)))
    by_producer: dict[str, list[dict]] = {}
    for dep in node["deps"]:
        for name in dep["producers"]:
            by_producer.setdefault(name, []).append(dep)
    for up in node["upstream"]:
        deps = by_producer.get(up["name"], [])
        edge = branch.add(Text.assemble(("← ", "bold"), _join_entries(deps)))
        _stage_tree(edge, up, shown)
    for raw in node["raw"]:
        _raw_tree(branch, raw)


def _raw_tree(parent: Tree, raw: dict[str, Any]) -> None:
    leaf = parent.add(
        Text.assemble(
            ("raw ", "bold green"),
            f"{raw['role']} {raw['spec']}  sha256 {raw['raw_sha256']}",
            (f"  (from {raw['read_from']})", "dim"),
        )
    )
    for name in raw["raw_files"]:
        leaf.add(Text(name))


def _commit_text(commit: dict[str, Any]) -> Text:
    if commit["head"] is None:
        return Text("commit ? (not a git repository)", style="yellow")
    if commit["lock_commit"]:
        where = f"commit {commit['lock_commit'][:12]} (last change to dvc.lock)"
    else:
        where = f"commit ? (dvc.lock never committed; HEAD {commit['head'][:12]})"
    work = "workspace dirty" if commit["workspace_dirty"] else "workspace clean"
    clean = commit["lock_state"] == "committed" and not commit["workspace_dirty"]
    text = f"{where} · dvc.lock {commit['lock_state']} · {work}"
    return Text(text, style="" if clean else "yellow")


def _entry_text(entry: dict[str, Any]) -> Text:
    files = f"  {entry['nfiles']} files" if entry.get("nfiles") is not None else ""
    return Text.assemble(entry["path"], "  ", (f"md5 {entry['md5']}", "dim"), files)


def _join_entries(entries: list[dict[str, Any]]) -> Text:
    parts = [Text.assemble(e["path"], " ", (_short_md5(e["md5"]), "dim")) for e in entries]
    return Text(", ").join(parts)


def _manifest_text(m: dict[str, Any]) -> Text:
    commit = (m["git_commit"] or "?")[:12]
    weights = (m["weights_sha256"] or "?")[:12]
    return Text.assemble(
        ("manifest ", "bold"),
        f"{m['path']}: seed {m['seed']} · commit {commit} · weights sha256 {weights}…",
    )


def _short_md5(md5: str | None) -> str:
    if not md5:
        return "?"
    return f"{md5[:8]}….dir" if md5.endswith(".dir") else f"{md5[:8]}…"


def _flatten(values: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from _flatten(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), values


def _short_value(value: Any) -> str:
    return json.dumps(value, default=str) if not isinstance(value, str) else value
