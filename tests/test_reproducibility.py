"""Same params and seed, same bytes: a fresh `git clone` elsewhere reruns the whole pipeline.

The origin is a copy of the session's reproduced repo with dvc.lock (and the uncached metrics,
reports and plots) committed and its data pushed to a local remote. The clone lives at another
path, pulls, and then `dvc repro --force` reruns every stage on CPU with the same torch build
and thread count. What must match bit for bit: the prepared and translated Parquet files, every
set of weights, the accuracies. What cannot: checkpoint manifests and metrics/translate.json
record wall-clock seconds (and manifests the git commit), so those files' bytes, and with them
DVC's hash of every models/ directory, differ between identical runs; they are compared with
those fields left out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from gantl.reporting.page import headline_figures
from tests.conftest import TINY_PARAMS, copy_repo, run
from tests.test_remote import (
    dir_manifest,
    lock_outs,
    md5,
    status,
    uncached_outs,
    workspace_md5s,
)

pytestmark = pytest.mark.slow

VOLATILE = {"seconds", "wall_time_s", "git_commit"}  # when and from which commit, not what


def without_volatile(node: object) -> object:
    """A JSON value with the timing and commit fields removed at every depth."""
    if isinstance(node, dict):
        return {k: without_volatile(v) for k, v in node.items() if k not in VOLATILE}
    if isinstance(node, list):
        return [without_volatile(v) for v in node]
    return node


def cache_object(repo: Path, digest: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]


def committed(repo: Path, path: str) -> str:
    return run(["git", "show", f"HEAD:{path}"], repo).stdout


@pytest.fixture(scope="module")
def rerun(reproduced_repo, tmp_path_factory) -> Path:
    """A clone of a pushed repo, at another path, after `dvc pull` and `dvc repro --force`."""
    tmp = tmp_path_factory.mktemp("reproducibility")
    remote = tmp / "remote"
    origin = copy_repo(reproduced_repo, tmp / "origin")
    run(["dvc", "remote", "modify", "--local", "storage", "url", str(remote)], origin)
    run(["gantl", "data", "push"], origin)
    run(["git", "add", "dvc.lock", ".dvc/.gitignore", *sorted(uncached_outs(origin))], origin)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lock"], origin)

    clone = tmp / "elsewhere" / "at" / "another" / "depth"
    clone.parent.mkdir(parents=True)
    run(["git", "clone", "-q", str(origin), str(clone)], tmp)
    run(["dvc", "remote", "modify", "--local", "storage", "url", str(remote)], clone)
    run(["gantl", "data", "pull"], clone)
    assert status(clone) == {}
    output = run(["dvc", "repro", "--force"], clone).stdout
    stages = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    assert set(re.findall(r"Running stage '([^']+)'", output)) == set(stages)  # all of them
    return clone


def test_prepared_and_translated_data_have_the_committed_hashes(rerun):
    clone = rerun
    before = yaml.safe_load(committed(clone, "dvc.lock"))["stages"]
    after = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    # prepare's whole lock entry (deps, params, outs) is unchanged: `git diff dvc.lock` shows
    # nothing for it. (Its raw files are bundled in site-packages, not in the repo: the next
    # test covers raw files inside a repo that moves.)
    assert after["prepare"] == before["prepare"]
    outs_before = {o["path"]: o for o in before["translate"]["outs"]}
    outs_after = {o["path"]: o for o in after["translate"]["outs"]}
    for path in ("data/translated/cyclegan", "plots/translate"):
        assert outs_after[path] == outs_before[path], path


def test_prepare_of_repo_files_does_not_depend_on_where_the_repo_lives(tmp_path):
    """The tiny pipeline reads bundled data from site-packages; here the raw files sit in the
    repo itself, so only portable_path keeps the repo's location out of the Parquet bytes."""
    params = yaml.safe_load(TINY_PARAMS)
    params["experiment"].update(source="npz:raw/a.npz", target="npz:raw/b.npz")
    params["prepare"].update(source_train_size=200, target_train_size=200)
    digests = []
    for repo in (tmp_path / "one", tmp_path / "somewhere" / "else"):
        (repo / "raw").mkdir(parents=True)
        for name, seed in (("a", 1), ("b", 2)):
            rng = np.random.default_rng(seed)
            np.savez(
                repo / "raw" / f"{name}.npz",
                x_train=rng.integers(0, 256, (300, 12, 12), dtype=np.uint8),
                y_train=np.arange(300) % 10,
                x_test=rng.integers(0, 256, (100, 12, 12), dtype=np.uint8),
                y_test=np.arange(100) % 10,
            )
        (repo / "params.yaml").write_text(yaml.safe_dump(params))
        run(["gantl", "stage", "prepare", "--quiet"], repo)
        digests.append(workspace_md5s(repo / "data" / "prepared"))
    assert len(digests[0]) == 7 and digests[0] == digests[1]


def test_training_gives_the_same_weights_and_accuracies(rerun):
    clone = rerun
    changed = set(run(["git", "diff", "--name-only"], clone).stdout.split())
    # metrics/summary.json (every accuracy), reports and confusion matrices: no diff at all;
    # the page names the commit, dvc.lock's hash and the seconds, but not one figure changes
    assert changed <= {"dvc.lock", "metrics/translate.json", "reports/index.html"}
    figures = headline_figures(committed(clone, "reports/index.html"))
    assert figures == headline_figures((clone / "reports" / "index.html").read_text())
    assert len(figures) > 20
    assert without_volatile(json.loads(committed(clone, "metrics/translate.json"))) == (
        without_volatile(json.loads((clone / "metrics" / "translate.json").read_text()))
    )
    before = lock_outs(committed(clone, "dvc.lock"))
    after = lock_outs((clone / "dvc.lock").read_text())
    models = [path for path in before if path.startswith("models/")]
    assert len(models) == 6  # source, oracle, dann, adda, cyclegan, cyclegan+adda
    for path in models:
        old, new = dir_manifest(clone, before[path]["md5"]), dir_manifest(clone, after[path]["md5"])
        assert old.keys() == new.keys(), path
        for relpath, digest in old.items():
            if relpath.endswith("manifest.json"):  # history, metrics, params: all but timings
                was, now = (
                    json.loads(cache_object(clone, d).read_text()) for d in (digest, new[relpath])
                )
                assert without_volatile(was) == without_volatile(now), f"{path}/{relpath}"
            else:  # the weights
                assert new[relpath] == digest, f"{path}/{relpath}"
                assert md5(clone / path / relpath) == digest
