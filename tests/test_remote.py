"""`gantl data push` / `pull` against a local DVC remote, and the remote configured by default.

The round trip covers what DVC caches (data/, models/): those go to the remote and come back
byte for byte. Outputs marked `cache: false` in dvc.yaml (metrics, reports, plots) are never
pushed; they travel with git, as DVC intends for small metrics files, so the test restores them
from git and says so.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, copy_repo, run

pytestmark = pytest.mark.slow


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def lock_outs(lock_text: str) -> dict[str, dict]:
    """Every out a dvc.lock records, by path: {"md5", "size", "nfiles"?}."""
    lock = yaml.safe_load(lock_text)
    return {out["path"]: out for stage in lock["stages"].values() for out in stage.get("outs", [])}


def uncached_outs(repo: Path) -> set[str]:
    """Paths dvc.yaml declares with `cache: false` (outs, metrics and plots alike); a path of a
    `foreach` stage or with a param in it (`plots/live/adapt/${item}`) as the ones it became."""

    def walk(node: object) -> set[str]:
        found: set[str] = set()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, dict) and value.get("cache") is False:
                    if "${" in key:
                        pattern = re.sub(r"\$\{[^}]+\}", "*", key)
                        found |= {p.relative_to(repo).as_posix() for p in repo.glob(pattern)}
                    else:
                        found.add(key)
                found |= walk(value)
        elif isinstance(node, list):
            for item in node:
                found |= walk(item)
        return found

    return walk(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])


def dir_manifest(repo: Path, dir_md5: str) -> dict[str, str]:
    """relpath → md5 from the `.dir` object DVC keeps in its cache for a directory out."""
    obj = repo / ".dvc" / "cache" / "files" / "md5" / dir_md5[:2] / dir_md5[2:]
    return {entry["relpath"]: entry["md5"] for entry in json.loads(obj.read_text())}


def workspace_md5s(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): md5(p) for p in sorted(out.rglob("*")) if p.is_file()}


def status(repo: Path) -> dict:
    return json.loads(run(["dvc", "status", "--json"], repo).stdout or "{}")


def changed_outs(report: dict) -> set[tuple[str, str]]:
    """(path, state) pairs of every "changed outs" entry in `dvc status --json`."""
    return {
        (path, state)
        for entries in report.values()
        for entry in entries
        if isinstance(entry, dict)
        for path, state in entry.get("changed outs", {}).items()
    }


def test_default_remote_is_storage_beside_the_repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".dvc").mkdir(parents=True)
    shutil.copy2(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    run(["git", "init", "-q"], repo)
    listed = run(["dvc", "remote", "list"], repo).stdout.split()
    # `url = ../../gantl-remote` resolves against .dvc/, i.e. to a sibling of the repo.
    assert listed == ["storage", str(tmp_path / "gantl-remote"), "(default)"]

    (repo / "note.txt").write_text("hello\n")
    run(["dvc", "add", "-q", "note.txt"], repo)
    run(["gantl", "data", "push"], repo)
    digest = md5(repo / "note.txt")
    assert (tmp_path / "gantl-remote" / "files" / "md5" / digest[:2] / digest[2:]).is_file()


def test_a_failed_transfer_is_one_error_line_and_exit_2(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".dvc").mkdir(parents=True)
    shutil.copy2(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    run(["git", "init", "-q"], repo)
    proc = run(["gantl", "data", "push", "--remote", "nope"], repo, check=False)
    assert proc.returncode == 2
    assert "remote 'nope' doesn't exist" in proc.stderr  # DVC's own message, passed through
    assert "error: dvc push to remote 'nope'" in proc.stderr


def test_push_then_pull_restores_every_cached_output_byte_for_byte(reproduced_repo, tmp_path):
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    remote = tmp_path / "remote"
    run(["dvc", "remote", "modify", "--local", "storage", "url", str(remote)], repo)
    assert status(repo) == {}
    lock_text = (repo / "dvc.lock").read_text()
    outs = lock_outs(lock_text)
    uncached = uncached_outs(repo)
    assert uncached and uncached < set(outs)  # metrics, reports, plots
    cached = {path: out for path, out in outs.items() if path not in uncached}
    assert {"data/prepared", "models/source", "data/translated/cyclegan"} <= set(cached)

    run(["gantl", "data", "push"], repo)
    # The uncached outs belong in git, beside dvc.lock: commit them as a team would.
    run(["git", "add", "dvc.lock", ".dvc/.gitignore", *sorted(uncached)], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lock"], repo)

    for path in [".dvc/cache", ".dvc/tmp", *outs]:
        target = repo / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    run(["gantl", "data", "pull"], repo)

    for path, out in cached.items():
        if out["md5"].endswith(".dir"):
            manifest = dir_manifest(repo, out["md5"])
            assert workspace_md5s(repo / path) == manifest, path
            assert len(manifest) == out["nfiles"], path
        else:
            assert md5(repo / path) == out["md5"], path
    # Never pushed, so not pulled: DVC reports exactly those as deleted, nothing else.
    assert not any((repo / path).exists() for path in uncached)
    assert changed_outs(status(repo)) == {(path, "deleted") for path in uncached}

    run(["git", "checkout", "--", *sorted(uncached)], repo)
    assert status(repo) == {}
    assert (repo / "dvc.lock").read_text() == lock_text
