"""`gantl lineage`: the chain of stages behind an artifact, read from a real `dvc repro`.

The shared `reproduced_repo` is only read; tests that change files work on a `copy_repo` copy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gantl import lineage
from gantl.cli import app
from gantl.data.store import read_meta, read_split, write_split
from tests.conftest import copy_repo, run

pytestmark = pytest.mark.slow
runner = CliRunner()
ADDA = "models/adda/seed_0/selected/model.safetensors"
VAL = "data/prepared/target/val.parquet"


def _lock(repo: Path) -> dict[str, Any]:
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"]


def _nodes(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every stage node in the tree under `node`, by name."""
    found = {node["name"]: node}
    for up in node["upstream"]:
        found.update(_nodes(up))
    return found


def _assert_hashes_are_the_locks(nodes: dict[str, dict[str, Any]], lock: dict) -> None:
    for name, node in nodes.items():
        for key in ("outs", "deps"):
            recorded = {e["path"]: e["md5"] for e in lock[name][key]}
            assert {e["path"]: e["md5"] for e in node[key]} == recorded, (name, key)
        assert node["cmd"] == lock[name]["cmd"]
        assert node["params"] == lock[name]["params"]


def test_adda_checkpoint_traces_back_to_prepare_and_the_raw_files(reproduced_repo):
    doc = json.loads(run(["gantl", "lineage", ADDA, "--json"], reproduced_repo).stdout)
    assert doc["artifact"] == ADDA and len(doc["stages"]) == 1
    top = doc["stages"][0]
    assert top["name"] == "adapt@adda"
    assert [u["name"] for u in top["upstream"]] == ["prepare", "pretrain"]
    nodes = _nodes(top)
    assert [u["name"] for u in nodes["pretrain"]["upstream"]] == ["prepare"]
    # prepare reads the raw files; only a check that writes no data may run before it
    assert [u["name"] for u in nodes["prepare"]["upstream"]] in ([], ["validate"])
    _assert_hashes_are_the_locks(nodes, _lock(reproduced_repo))
    # the artifact's own md5 is its line in the models/adda manifest: the file's bytes
    assert doc["md5"] == hashlib.md5((reproduced_repo / ADDA).read_bytes()).hexdigest()
    deps = {d["path"]: d for d in top["deps"]}
    assert deps["gantl/stages/adapt.py"]["kind"] == "code"
    assert deps["gantl/methods/adda.py"]["kind"] == "code"  # its own algorithm, no other
    assert "gantl/methods/dann.py" not in deps
    assert deps["models/source"]["kind"] == "stage"
    assert deps["models/source"]["producers"] == ["pretrain"]
    manifest = json.loads((reproduced_repo / ADDA).with_name("manifest.json").read_text())
    selected = {m["path"]: m for m in top["manifests"]}["models/adda/seed_0/selected"]
    assert selected["git_commit"] == manifest["git_commit"] and selected["seed"] == 0
    # the leaves: the raw inputs recorded in the prepared splits, one per role
    raw = {r["role"]: r for r in doc["raw"]}
    assert set(raw) == {"source", "target"}
    for role, record in raw.items():
        meta = read_meta(reproduced_repo / "data" / "prepared" / role / "train.parquet")
        assert record["raw_sha256"] == meta["raw_sha256"]
        assert record["raw_files"] == meta["raw_files"] and record["spec"] == meta["spec"]
    assert nodes["prepare"]["raw"] == doc["raw"]


def test_pixel_model_traces_through_translate(reproduced_repo):
    doc = lineage.trace(reproduced_repo, "models/cyclegan+adda")
    top = doc["stages"][0]
    assert top["name"] == "adapt_pixel@adda"
    assert {u["name"] for u in top["upstream"]} == {"prepare", "translate", "pretrain"}
    nodes = _nodes(top)
    assert {u["name"] for u in nodes["translate"]["upstream"]} == {"prepare", "oracle", "pretrain"}
    _assert_hashes_are_the_locks(nodes, _lock(reproduced_repo))
    deps = {d["path"]: d for d in top["deps"]}
    assert deps["data/translated/cyclegan"]["producers"] == ["translate"]
    assert {r["role"] for r in doc["raw"]} == {"source", "target"}


def test_a_prepared_split_has_only_its_own_role_as_raw_input(reproduced_repo):
    doc = lineage.trace(reproduced_repo, VAL)
    assert [s["name"] for s in doc["stages"]] == ["prepare"]
    assert [r["role"] for r in doc["raw"]] == ["target"]
    recorded = {d["path"]: d["md5"] for d in _lock(reproduced_repo)["adapt@adda"]["deps"]}
    assert doc["md5"] == recorded[VAL]


def test_tree_and_verify_on_an_unchanged_repo(reproduced_repo):
    result = runner.invoke(app, ["lineage", ADDA, "--verify", "--root", str(reproduced_repo)])
    assert result.exit_code == 0, result.output
    for text in ("adapt@adda", "pretrain", "prepare", "raw source", "digits.csv.gz", "verified"):
        assert text in result.output
    checked = lineage.verify(reproduced_repo, lineage.trace(reproduced_repo, ADDA))
    assert checked.ok and checked.skipped == []  # the bundled raw files resolved and matched
    assert checked.checked >= 10


def _change_one_label(path: Path) -> None:
    split = read_split(path)
    labels = split.labels.copy()
    labels[0] = (labels[0] + 1) % 10
    write_split(path, split.images, labels, split.sample_ids, split.origins, split.meta)


def test_verify_names_a_modified_split(reproduced_repo, tmp_path):
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    recorded = lineage.file_md5(repo / VAL)
    _change_one_label(repo / VAL)
    now = lineage.file_md5(repo / VAL)
    assert now != recorded

    proc = run(["gantl", "lineage", ADDA, "--verify"], repo, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{VAL}: modified (recorded md5 {recorded}, now {now})" in proc.stdout

    doc = json.loads(run(["gantl", "lineage", "models", "--json", "--verify"], repo, False).stdout)
    assert not doc["verify"]["ok"]
    assert {f["path"] for f in doc["verify"]["findings"]} == {VAL}

    # without the .dir manifest in the cache the folder is compared as a whole, by DVC's hash
    prepared = _lock(repo)["prepare"]["outs"][0]["md5"]
    (repo / ".dvc/cache/files/md5" / prepared[:2] / prepared[2:]).unlink()
    checked = lineage.verify(repo, lineage.trace(repo, VAL))
    whole = lineage.dir_md5(repo / "data/prepared")
    assert checked.findings == [lineage.Finding("data/prepared", "modified", prepared, whole)]


def test_verify_flags_missing_and_extra_files(reproduced_repo, tmp_path):
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    (repo / "models/adda/seed_0/upper_bound/model.safetensors").unlink()
    (repo / "models/adda/seed_0/notes.txt").write_text("hand-made")
    checked = lineage.verify(repo, lineage.trace(repo, "models/adda"))
    assert {(f.path, f.status) for f in checked.findings} == {
        ("models/adda/seed_0/notes.txt", "extra"),
        ("models/adda/seed_0/upper_bound/model.safetensors", "missing"),
    }


def test_raw_files_are_rehashed_where_they_resolve(reproduced_repo, tmp_path, monkeypatch):
    doc = lineage.trace(reproduced_repo, "data/prepared/source/train.parquet")
    (record,) = doc["raw"]
    site = tmp_path / "site"
    monkeypatch.delenv("GANTL_DATA_DIR", raising=False)
    monkeypatch.setattr("gantl.lineage.raw.site_packages", lambda: site)
    checked = lineage.verify(reproduced_repo, doc)  # a raw file it cannot find: not verified
    (finding,) = checked.findings
    assert finding.path == "sklearn/datasets/data/digits.csv.gz" and finding.status == "missing"
    assert "raw source file of bundled:uci-digits" in finding.message
    checked = lineage.verify(reproduced_repo, doc, allow_missing_raw=True)
    assert checked.ok and "sklearn/datasets/data/digits.csv.gz" in checked.skipped[0]

    fake = site / record["raw_files"][0]
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"not the digits")
    checked = lineage.verify(reproduced_repo, doc)
    (finding,) = checked.findings
    assert finding.algorithm == "sha256" and finding.recorded == record["raw_sha256"]
    assert finding.path == "raw source files (bundled:uci-digits)"


def test_champion_pointer_is_followed(reproduced_repo, tmp_path):
    missing = runner.invoke(app, ["lineage", "models/champion", "--root", str(reproduced_repo)])
    assert missing.exit_code == 2 and "models/champion/champion.json: not found" in missing.output

    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    record = {"model": "models/adda", "validator": "neg_entropy", "target_acc": 0.42}
    (repo / "models/champion").mkdir()
    (repo / "models/champion/champion.json").write_text(json.dumps(record))
    result = runner.invoke(app, ["lineage", "models/champion", "--root", str(repo)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("models/champion → models/adda")
    assert "champion models/champion/champion.json" in lines[1]
    assert "model: models/adda" in result.output and "target_acc: 0.42" in result.output
    assert result.output.index("target_acc") < result.output.index("stage adapt@adda")

    doc = lineage.trace(repo, "models/champion/champion.json")
    assert doc["champion"] == {"path": "models/champion/champion.json", **record}
    assert doc["traced"] == "models/adda" and doc["stages"][0]["name"] == "adapt@adda"

    # evaluate's dep `models` was hashed before the champion existed: DVC (and verify) sees the
    # champion's files as extra unless .dvcignore leaves the folder out
    (repo / ".dvcignore").write_text("")
    checked = lineage.verify(repo, lineage.trace(repo, "metrics/summary.json"))
    assert [(f.path, f.status) for f in checked.findings] == [
        ("models/champion/champion.json", "extra")
    ]
    (repo / ".dvcignore").write_text("/models/champion/\n")
    assert lineage.verify(repo, lineage.trace(repo, "metrics/summary.json")).ok


def test_unknown_artifact_and_missing_lock_are_one_line_errors(reproduced_repo, tmp_path):
    result = runner.invoke(app, ["lineage", "models/nope/model.pt", "--root", str(reproduced_repo)])
    assert result.exit_code == 2
    assert "models/nope/model.pt: no stage in" in result.output and "models/adda" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(lineage.LineageError, match=r"input .* of prepare"):
        lineage.trace(reproduced_repo, "gantl/stages/prepare.py")
    with pytest.raises(lineage.LineageError, match=r"dvc\.lock: not found"):
        lineage.trace(tmp_path, "models/adda")


def test_folder_hash_is_dvcs(reproduced_repo, tmp_path):
    """DVC's folder hash, checked against `dvc add` on awkward names and against the lock."""
    scratch = tmp_path / "scratch"
    for rel, data in {
        "a/x": b"x",
        "a-b/x": b"y",
        "B": b"B",
        "b": b"b",
        "__pycache__/m.pyc": b"\x00pyc",
        "ü/é.txt": b"u",
        "crlf.txt": b"a\r\nb\r\n",
        "empty": b"",
    }.items():
        (scratch / "d" / rel).parent.mkdir(parents=True, exist_ok=True)
        (scratch / "d" / rel).write_bytes(data)
    (scratch / "d" / "no-files-here").mkdir()
    run(["dvc", "init", "--no-scm", "-q"], scratch)
    run(["dvc", "add", "-q", "d"], scratch)
    added = yaml.safe_load((scratch / "d.dvc").read_text())["outs"][0]
    assert lineage.dir_md5(scratch / "d") == added["md5"]
    assert lineage.dir_manifest(scratch, added["md5"]) is not None
    # with a .dvcignore (gitignore syntax) DVC hashes only what it does not exclude
    (scratch / ".dvcignore").write_text("__pycache__/\n/d/a-b/\n*.txt\n!crlf.txt\n")
    run(["dvc", "add", "-q", "d"], scratch)
    added = yaml.safe_load((scratch / "d.dvc").read_text())["outs"][0]
    assert added["nfiles"] == 5  # a/x, B, b, crlf.txt, empty
    assert lineage.dir_md5(scratch / "d", root=scratch) == added["md5"]
    assert lineage.dir_md5(scratch / "d") != added["md5"]

    lock = _lock(reproduced_repo)
    assert lineage.dir_md5(reproduced_repo / "data/prepared") == lock["prepare"]["outs"][0]["md5"]
    code = {d["path"]: d["md5"] for d in lock["pretrain"]["deps"]}
    assert (
        lineage.file_md5(reproduced_repo / "gantl/models/lenet.py") == code["gantl/models/lenet.py"]
    )


def test_lock_entries_not_hashed_as_dvc3_are_one_line_errors(tmp_path):
    lock = (
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: gantl stage prepare\n"
        "    outs:\n    - path: data/prepared\n      md5: 0123.dir\n"
    )
    (tmp_path / "dvc.lock").write_text(lock)
    with pytest.raises(
        lineage.LineageError, match=r"data/prepared: no `hash:` .* expected `hash: md5`"
    ):
        lineage.trace(tmp_path, "data/prepared")
    (tmp_path / "dvc.lock").write_text(lock.replace("md5: 0123", "hash: sha256\n      md5: 0"))
    with pytest.raises(lineage.LineageError, match=r"hash 'sha256' is not supported"):
        lineage.trace(tmp_path, "data/prepared")
