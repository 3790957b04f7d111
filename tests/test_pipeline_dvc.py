"""`dvc repro` end to end on a tiny config in a temporary copy of the repo.

One copy serves the three checks in order: the first repro runs every stage, the second skips
every stage, and a changed pretrain param reruns only pretrain and what depends on it.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import TINY_PARAMS, make_pipeline_copy, run

pytestmark = pytest.mark.slow
ALL = {
    "validate",
    "prepare",
    "pretrain",
    "oracle",
    "translate",
    "adapt@dann",
    "adapt@adda",
    "adapt_pixel@adda",
    "evaluate",
    "report",
}


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def _skipped(output: str) -> set[str]:
    return set(re.findall(r"Stage '([^']+)' didn't change, skipping", output))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_pipeline_copy(tmp_path_factory.mktemp("dvc-repo"), TINY_PARAMS)


def test_first_repro_runs_every_stage_and_writes_the_contract(repo):
    out = run(["dvc", "repro"], repo).stdout
    assert _ran(out) == ALL
    summary = json.loads((repo / "metrics" / "summary.json").read_text())
    assert summary["protocol"] == "tiny-uci-mnistm"
    assert set(summary["results"]) == {"source_only", "oracle", "dann", "adda", "cyclegan+adda"}
    for result in summary["results"].values():
        assert 0.0 <= result["target_acc_mean"] <= 1.0
    assert summary["recommended"] in summary["results"]
    for split in ("train", "val", "test"):
        assert (repo / "data" / "prepared" / "target" / f"{split}.parquet").is_file()
    assert (repo / "models" / "source" / "seed_0" / "model.safetensors").is_file()
    assert (repo / "models" / "adda" / "seed_0" / "selected" / "model.safetensors").is_file()
    assert (repo / "reports" / "models" / "dann.json").is_file()
    for split in ("train", "val"):
        assert (repo / "data" / "translated" / "cyclegan" / f"{split}.parquet").is_file()
    assert (repo / "models" / "cyclegan+adda" / "seed_0" / "selected" / "manifest.json").is_file()
    assert (repo / "plots" / "translate" / "cyclegan.png").is_file()
    shown = json.loads(run(["dvc", "plots", "show", "--json"], repo).stdout)["data"]
    curves = shown["translator labels kept per epoch"][0]["content"]["data"]["values"]
    assert {"epoch", "label_preservation", "label_free_score", "kept"} <= set(curves[0])
    drawn = [name.removeprefix("dvc.yaml::") for name in shown]  # as a stage's and a top plot
    assert len(drawn) == len(set(drawn)), "a file drawn twice"
    # every training stage's dvclive curves, label-using ones apart; one view per model
    for stage, model, metric in [
        ("pretrain", "source_only", "val_acc"),
        ("oracle", "oracle", "val_acc"),
        ("adapt", "dann", "domain_acc"),
        ("adapt", "cyclegan+adda", "target_labels/target_val_acc"),
        ("translate", "cyclegan", "target_labels/fid"),
    ]:
        tsv = f"plots/live/{stage}/{model}/plots/metrics/seed0/{metric}.tsv"
        values = shown[tsv][0]["content"]["data"]["values"]
        assert {"step", metric.rsplit("/", 1)[-1]} <= set(values[0]), tsv
    embedding = shown["plots/embedding/dann.csv"][0]["content"]
    assert embedding["encoding"]["color"]["field"] == "domain"
    assert {row["domain"] for row in embedding["data"]["values"]} == {"source", "target"}
    assert shown["plots/embedding/dann.png"][0]["type"] == "image"
    assert "oracle.csv" not in {p.name for p in (repo / "plots" / "embedding").iterdir()}
    assert len(shown["plots/confusion/dann.csv"][0]["content"]["data"]["values"]) > 0
    exp = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    assert "plots/live/adapt/dann/metrics.json" in json.dumps(exp)  # the final metrics
    translate = json.loads((repo / "metrics" / "translate.json").read_text())
    assert translate["gan"] == "cyclegan" and 0 <= translate["label_preservation"] <= 1
    assert not (repo / ".gantl" / "state" / "cyclegan").exists()  # removed once finished
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == ALL


def test_second_repro_skips_every_stage(repo):
    out = run(["dvc", "repro"], repo).stdout
    assert _ran(out) == set()
    assert _skipped(out) == ALL
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_param_change_reruns_only_downstream_stages(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["pretrain"]["lr"] = 0.001
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    out = run(["dvc", "repro"], repo).stdout
    # validate checks every params change (its unchanged marker makes nothing stale); pretrain
    # reruns, and so does everything that consumes the source model
    assert _ran(out) == {
        "validate",
        "pretrain",
        "translate",
        "adapt@dann",
        "adapt@adda",
        "adapt_pixel@adda",
        "evaluate",
        "report",  # the page, after everything it shows
    }
    assert {"prepare", "oracle"} <= _skipped(out)


def test_method_param_change_reruns_only_that_method(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["adda"]["disc_lr"] = 0.0001
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    out = run(["dvc", "repro"], repo).stdout
    assert _ran(out) == {"validate", "adapt@adda", "adapt_pixel@adda", "evaluate", "report"}
