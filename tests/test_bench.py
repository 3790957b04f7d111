"""The bench CLI on a tiny config writes the documented JSON and markdown."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from gantl.cli import app
from tests.conftest import ROOT, TINY_PARAMS

runner = CliRunner()


def test_bench_digits_writes_documented_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    params = yaml.safe_load(TINY_PARAMS)
    params["experiment"]["protocol"] = "tiny"
    (tmp_path / "configs" / "tiny.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "results" / "tiny.json"
    methods = "source_only,dann,adda,cyclegan+adda,adda+refine,cyclegan+adda&source+t2s"
    args = ["bench", "digits", "--protocol", "tiny", "--seeds", "0,1", "--methods", methods]
    args += ["--out", str(out), "--root", str(ROOT), "--threads", "1", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["protocol"] == "tiny" and record["seeds"] == [0, 1]
    models = {"source_only", "oracle", "dann", "adda", "cyclegan+adda", "adda+refine"}
    made = {"source+t2s", "cyclegan+adda&source+t2s"}  # an ensemble brings its members
    assert set(record["results"]) == models | made
    assert record["params"]["translate"]["t2s"] == ["source"]
    assert record["stage_seconds"]["source+t2s"] >= 0
    ensemble = record["results"]["cyclegan+adda&source+t2s"]
    assert ensemble["seconds"] >= record["results"]["cyclegan+adda"]["seconds"]
    assert record["params"]["refine"]["methods"] == ["adda"]
    refined, adda = record["results"]["adda+refine"], record["results"]["adda"]
    assert refined["seconds"] > adda["seconds"]  # a refined model counts the one it starts from
    assert set(record["translation"]["cyclegan"]) >= {"fid", "kid", "label_preservation"}
    assert record["stage_seconds"]["translate@cyclegan"] > 0
    for name, r in record["results"].items():
        assert set(r) >= {
            "target_acc_mean",
            "target_acc_std",
            "target_acc_upper_bound_mean",
            "seconds",
        }
        assert len(r["target_acc_per_seed"]) == 2
        assert r["seconds"] > 0
        if name in ("dann", "adda", "cyclegan+adda", "adda+refine"):
            assert 0 <= r["target_acc_upper_bound_mean"] <= 1
    assert record["commit"] is None or isinstance(record["commit"], str)
    markdown = out.with_suffix(".md").read_text()
    assert "gantl (validator-selected)" in markdown and "upper bound" in markdown
    assert not (tmp_path / "models").exists()  # the bench works in a scratch dir
    assert record["stage_seconds"].keys() >= {"prepare", "source_only", "oracle", "evaluate"}
    # every scored checkpoint of every adapted run carries its test accuracy for the study
    assert set(record["checkpoints"]) == models - {"source_only", "oracle"}
    for seeds in record["checkpoints"].values():
        assert set(seeds) == {"0", "1"}
        for trace in seeds.values():
            assert all(0 <= r["target_test_acc"] <= 1 and "neg_entropy" in r for r in trace)
    study = tmp_path / "results" / "validators.json"
    (tmp_path / "params.yaml").write_text(TINY_PARAMS)
    result = runner.invoke(app, ["bench", "validators", str(out), "--out", str(study)])
    assert result.exit_code == 0, result.output
    figures = json.loads(study.read_text())
    rows = figures["protocols"]["tiny"]
    assert rows["neg_entropy"]["runs"] == 2 * 4 and figures["default"] == "neg_entropy"
    assert all(r["gap"] >= 0 for r in rows.values())  # nothing beats the best checkpoint
    assert "## tiny" in study.with_suffix(".md").read_text()


def test_bench_rejects_unknown_protocol_and_method(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["bench", "digits", "--protocol", "nope"])
    assert result.exit_code == 2 and "unknown protocol 'nope'" in result.output
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny.yaml").write_text(TINY_PARAMS)
    result = runner.invoke(app, ["bench", "digits", "--protocol", "tiny", "--methods", "coral"])
    assert result.exit_code == 2 and "unknown method(s) ['coral']" in result.output
    result = runner.invoke(app, ["bench", "digits", "--protocol", "tiny", "--seeds", "a,b"])
    assert result.exit_code == 2 and "--seeds" in result.output
    both = ["bench", "digits", "--protocol", "tiny", "--params", "configs/tiny.yaml"]
    result = runner.invoke(app, both)
    assert result.exit_code == 2 and "--protocol or --params, not both" in result.output
    result = runner.invoke(app, ["bench", "validators", "configs/tiny.yaml"])
    assert (
        result.exit_code == 2 and "configs/tiny.yaml: not a readable bench record" in result.output
    )
    (tmp_path / "old.json").write_text(json.dumps({"protocol": "tiny", "results": {}}))
    result = runner.invoke(app, ["bench", "validators", "old.json"])
    assert result.exit_code == 2 and "no record holds checkpoint traces" in result.output


def test_bench_params_file_with_custom_domains(tmp_path):
    from gantl.bench import protocol_params

    path = tmp_path / "mine.yaml"
    path.write_text(TINY_PARAMS)
    params = protocol_params(None, params_file=path)
    assert params.experiment.source == yaml.safe_load(TINY_PARAMS)["experiment"]["source"]
    params = protocol_params(None, "bundled:mnist5k", "synthetic:mnistm", params_file=path)
    assert params.experiment.protocol == "bundled:mnist5k→synthetic:mnistm"
    assert params.pretrain == protocol_params(None, params_file=path).pretrain


def test_bench_switches_translator_and_keeps_copies_for_the_noise_one():
    """A recipe with PixelDA copies benched with CycleGAN methods gets one translation per
    image (CycleGAN draws no noise); with PixelDA methods the copies stay."""
    from gantl.bench import bench_params
    from gantl.config import params_from_dict

    raw = yaml.safe_load(TINY_PARAMS)
    raw["translate"] |= {"gan": "pixelda", "copies": 3}
    params = params_from_dict(raw)
    cyc, targets = bench_params(params, ["dann", "cyclegan+dann"], [0])
    assert (cyc.translate.gan, cyc.translate.copies) == ("cyclegan", 1)
    assert "adapt_pixel@dann" in targets
    pix, _ = bench_params(params, ["pixelda+dann"], [0, 1])
    assert (pix.translate.gan, pix.translate.copies) == ("pixelda", 3)
    assert pix.experiment.seeds == [0, 1]
