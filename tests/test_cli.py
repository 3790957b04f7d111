"""The CLI: stages on small data, one-line errors for bad input, and no lost outputs."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from gantl.io import file_sha256
from tests.conftest import TINY_PARAMS

runner = CliRunner()


def _params(tmp_path, **experiment) -> dict:
    params = yaml.safe_load(TINY_PARAMS)
    params["experiment"].update(experiment)
    return params


def _write(path, params) -> str:
    path.write_text(yaml.safe_dump(params))
    return str(path)


def _npz(path, n=120, size=12, seed=0, labels=True):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = (rng.random((n, size, size)) * 60).astype(np.uint8)
    x[np.arange(n), y, :] = 255  # the label is a bright row: learnable
    arrays = {"x_train": x[: n // 2], "x_test": x[n // 2 :]}
    if labels:
        arrays |= {"y_train": y[: n // 2], "y_test": y[n // 2 :]}
    np.savez(path, **arrays)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _npz(tmp_path / "a.npz", seed=0)
    _npz(tmp_path / "b.npz", seed=1)
    return tmp_path


def _stage(name, params_file):
    return runner.invoke(app, ["stage", name, "--params", params_file, "--quiet"])


def test_stages_run_and_a_failing_prepare_keeps_previous_outputs(workdir):
    params = _params(workdir, source="npz:a.npz", target="npz:b.npz", protocol="npz-a-b")
    params["prepare"].update(source_train_size=None, target_train_size=None, image_size=16)
    good = _write(workdir / "params.yaml", params)
    for name in ("prepare", "pretrain", "oracle", "translate"):
        result = _stage(name, good)
        assert result.exit_code == 0, result.output
    for method in ("dann", "adda", "cyclegan+adda"):
        result = runner.invoke(app, ["stage", "adapt", "--method", method, "--params", good, "-q"])
        assert result.exit_code == 0, result.output
    result = _stage("evaluate", good)
    assert result.exit_code == 0, result.output
    assert (workdir / "metrics" / "summary.json").is_file()
    result = runner.invoke(app, ["stage", "adapt", "--params", good])
    assert result.exit_code == 2 and "needs --method" in result.output
    prepared = sorted((workdir / "data" / "prepared").rglob("*.parquet"))
    assert len(prepared) == 6
    before = {p: file_sha256(p) for p in prepared}

    # a corrupt IDX target: one clear line naming the file, no traceback, nothing lost
    (workdir / "bad").mkdir()
    with gzip.open(workdir / "bad" / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x0803, 10, 28, 28) + b"\0" * 100)
    with gzip.open(workdir / "bad" / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x0801, 10) + bytes(10))
    params["experiment"]["target"] = "mnist:bad"
    result = _stage("prepare", _write(workdir / "bad.yaml", params))
    assert result.exit_code == 2
    assert "t10k-images-idx3-ubyte.gz" in result.output and "truncated" in result.output
    assert "Traceback" not in result.output
    assert {p: file_sha256(p) for p in prepared} == before


def test_invalid_params_fail_before_anything_is_written(workdir):
    params = _params(workdir, source="npz:a.npz", target="npz:b.npz")
    params["pretrain"]["lr"] = -1
    result = _stage("prepare", _write(workdir / "params.yaml", params))
    assert result.exit_code == 2
    assert "params.yaml: pretrain.lr: Input should be greater than 0 (got -1)" in result.output
    assert not (workdir / "data").exists()


def test_unknown_spec_kind_and_missing_path(workdir):
    result = runner.invoke(app, ["data", "show", "tfds:mnist"])
    assert result.exit_code == 2 and "unknown domain spec kind 'tfds'" in result.output
    result = runner.invoke(app, ["data", "show", "usps:nowhere.h5", "--data-dir", str(workdir)])
    assert result.exit_code == 2 and "nowhere.h5" in result.output


def test_oracle_needs_target_labels(workdir):
    _npz(workdir / "u.npz", seed=2, labels=False)
    params = _params(workdir, source="npz:a.npz", target="npz:u.npz")
    params["prepare"].update(source_train_size=None, target_train_size=None)
    good = _write(workdir / "params.yaml", params)
    assert _stage("prepare", good).exit_code == 0
    result = _stage("oracle", good)
    assert result.exit_code == 2 and "unlabelled" in result.output


def test_data_show_prints_counts_and_balance():
    result = runner.invoke(app, ["data", "show", "bundled:uci-digits"])
    assert result.exit_code == 0, result.output
    assert "8×8×1" in result.output and "1,438" in result.output and "359" in result.output


def test_help_everywhere():
    for args in (["--help"], ["stage", "--help"], ["data", "show", "--help"], ["run", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage" in result.output
