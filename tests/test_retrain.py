"""The retrain flow on a tiny pipeline whose target is a drop folder that receives new data.

One repo serves the checks in order: the first run promotes (no champion yet), a second run with
the same data decides "unchanged" without retraining, and new data in the drop folder rebuilds
the pipeline through DVC and records a validator-based decision.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from gantl import champion
from gantl.config import load_params
from gantl.data.specs import load_domain
from gantl.data.store import read_split
from gantl.io import files_sha256
from tests.conftest import TINY_PARAMS, make_pipeline_copy, run

pytestmark = pytest.mark.slow


def _params() -> str:
    params = yaml.safe_load(TINY_PARAMS)
    params["experiment"] |= {"target": "npz:drop/target.npz", "protocol": "tiny-drop"}
    params["prepare"]["target_train_size"] = None
    params["adapt"] |= {"methods": ["dann"], "pixel_methods": []}
    return yaml.safe_dump(params, sort_keys=False)


def _drop(repo: Path, rows: slice) -> Path:
    """Write some MNIST-M-style digits as the drop folder's target.npz."""
    domain = load_domain("synthetic:mnistm:bundled:uci-digits", None, seed=0)
    train, test = domain.splits["train"], domain.splits["test"]
    path = repo / "drop" / "target.npz"
    path.parent.mkdir(exist_ok=True)
    np.savez(
        path,
        x_train=train.images[rows],
        y_train=train.labels[rows],
        x_test=test.images,
        y_test=test.labels,
    )
    return path


@pytest.fixture(scope="module")
def repo(tmp_path_factory, prefect_harness):
    repo = make_pipeline_copy(tmp_path_factory.mktemp("retrain"), _params())
    _drop(repo, slice(0, 500))
    return repo


def test_first_run_builds_the_pipeline_and_promotes(repo):
    from flows.retrain import retrain

    decision = retrain(root=str(repo), watch="drop")
    assert decision["promoted"] and decision["reason"] == "no champion yet"
    assert decision["data_hash"] == files_sha256(
        [repo / "drop" / "target.npz"], name=lambda p: p.name
    )
    pointer = json.loads((repo / "models" / "champion" / "champion.json").read_text())
    new = decision["candidate"]
    assert pointer["checkpoint"] == new["checkpoint"] and pointer["score"] == new["score"]
    summary = json.loads((repo / "metrics" / "summary.json").read_text())
    assert new["model"] == summary["recommended"]
    copied = json.loads((repo / "models" / "champion" / "model" / "manifest.json").read_text())
    assert copied["weights_sha256"] == new["weights_sha256"]
    assert len(champion.read_registry(repo)) == 1
    # the flow went through DVC: every stage is recorded, and the champion does not disturb it
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_unchanged_data_is_recorded_without_retraining(repo):
    lock_before = (repo / "dvc.lock").read_text()
    printed = run(["gantl", "retrain", "--watch", "drop"], repo).stdout  # the CLI, once
    assert "champion kept: target data unchanged" in printed
    decision = champion.read_registry(repo)[-1]
    assert not decision["promoted"] and decision["reason"] == "target data unchanged"
    assert decision["candidate"] is None
    assert (repo / "dvc.lock").read_text() == lock_before
    assert len(champion.read_registry(repo)) == 2


def test_new_data_rebuilds_and_decides_on_the_validator(repo):
    from flows.retrain import retrain

    before = json.loads((repo / "models" / "champion" / "champion.json").read_text())
    _drop(repo, slice(500, 1000))
    decision = retrain(root=str(repo), watch="drop")
    registry = champion.read_registry(repo)
    assert len(registry) == 3 and registry[-1] == json.loads(json.dumps(decision))
    assert decision["data_hash"] != registry[0]["data_hash"]
    # prepare reran on the new bytes
    target = read_split(repo / "data" / "prepared" / "target" / "train.parquet")
    assert target.meta["raw_sha256"] == decision["data_hash"]
    # both scored on the new target-val images with the label-free validator
    params = load_params(repo / "params.yaml")
    old = decision["champion"]
    assert old["checkpoint"] == before["checkpoint"]
    if not decision["promoted"]:  # the old champion's copy is still in place: rescore it
        rescored = champion.score_checkpoint(
            params, repo / "models" / "champion" / "model", repo / "data" / "prepared", old["seed"]
        )
        assert rescored == pytest.approx(old["score_now"])
    assert decision["promoted"] == (decision["candidate"]["score"] > old["score_now"])
    pointer = json.loads((repo / "models" / "champion" / "champion.json").read_text())
    expected = decision["candidate"] if decision["promoted"] else before
    assert pointer["weights_sha256"] == expected["weights_sha256"]
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_missing_drop_folder_is_a_clear_error(repo):
    from gantl.errors import DataError

    with pytest.raises(DataError, match="nowhere: watched target data not found"):
        champion.data_hash(load_params(repo / "params.yaml"), Path("nowhere"))
