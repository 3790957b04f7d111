"""`gantl bench stargan`: one StarGAN trained once and reused for every other target, one
CycleGAN per target, all at one image shape; and its table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gantl import bench_multidomain
from gantl.config import params_from_dict
from gantl.errors import ConfigError
from tests.conftest import TINY_PARAMS

TARGETS = ["synthetic:mnistm:bundled:uci-digits", "bundled:mnist5k"]


def fake_record(params, names: list[str], seeds: list[int]) -> dict:
    """What run_bench returns, with accuracies that name their method."""
    gan = params.translate.gan
    results = {
        n: {"target_acc_mean": 0.5 + 0.01 * i, "target_acc_std": 0.01}
        for i, n in enumerate(["source_only", "oracle", *names])
    }
    quality = {"label_preservation": 0.9, "fid": 10.0}
    return {
        "results": results,
        "recommended": names[-1],
        "seeds": seeds,
        "commit": "abc1234",
        "stage_seconds": {f"translate@{gan}": 3.0},
        "translation": {
            gan: {
                **quality,
                "untranslated": {"label_preservation": 0.95, "fid": 20.0},
                "epoch": 2,
                "epochs": 3,
                "seconds": 0.0 if params.translate.reuse else 60.0,
                **({"reused_from": {"dir": "x"}} if params.translate.reuse else {}),
            }
        },
    }


def test_one_stargan_serves_every_target_and_each_target_gets_a_cyclegan(tmp_path, monkeypatch):
    calls = []

    def run_bench(params, names, seeds, data_dir=None, keep_translator=None, **kw):
        calls.append((params, names, keep_translator))
        if keep_translator is not None:  # the trained StarGAN, as the bench keeps it
            Path(keep_translator).mkdir(parents=True)
            (Path(keep_translator) / "manifest.json").write_text(
                json.dumps({"weights_sha256": "ab" * 32})
            )
        return fake_record(params, names, seeds)

    monkeypatch.setattr(bench_multidomain, "run_bench", run_bench)
    params = params_from_dict(yaml.safe_load(TINY_PARAMS))
    written = []
    suite = bench_multidomain.run_multidomain(
        params,
        TARGETS,
        ["source_only", "dann"],
        [0],
        workdir=tmp_path,
        on_run=lambda s: written.append(len(s["runs"])),
    )
    assert [(p.translate.gan, p.experiment.target) for p, _, _ in calls] == [
        ("stargan", TARGETS[0]),
        ("stargan", TARGETS[1]),
        ("cyclegan", TARGETS[0]),
        ("cyclegan", TARGETS[1]),
    ]
    first, second = calls[0][0], calls[1][0]
    assert first.stargan.extra_domains == TARGETS[1:] and first.translate.reuse is None
    assert calls[0][2] is not None  # the first bench keeps its StarGAN …
    assert second.stargan.extra_domains == [] and second.translate.reuse is not None
    assert second.translate.reuse.weights_sha256 == "ab" * 32  # … the second reuses it, pinned
    assert second.translate.reuse.dir == str(calls[0][2])
    assert calls[0][1] == ["source_only", "dann", "stargan+source_only", "stargan+dann"]
    assert calls[2][1] == ["cyclegan+source_only", "cyclegan+dann"]
    shapes = {(p.prepare.image_size, p.prepare.channels) for p, _, _ in calls}
    assert shapes == {(16, 3)}  # the params' 16 px; RGB because MNIST-M is
    assert written == [1, 2, 2, 2] and set(suite["runs"][TARGETS[0]]) == {"stargan", "cyclegan"}
    markdown = bench_multidomain.multidomain_markdown(suite)
    assert f"| {TARGETS[1]} | dann | 53.0 | 55.0 ★ | 53.0 ★ |" in markdown
    assert "| stargan (reused) | 90.0 | 10.0 | 95.0, 20.0 | as trained | 0 | 3 |" in markdown
    assert "StarGAN 1.0 min for 2 targets; CycleGAN 2.0 min" in markdown


@pytest.mark.parametrize(
    ("targets", "methods", "match"),
    [
        (TARGETS[:1], ["dann"], "two or more domains"),
        ([TARGETS[0], TARGETS[0]], ["dann"], "distinct"),
        (["bundled:uci-digits", TARGETS[1]], ["dann"], "differ from the source"),
        (TARGETS, ["mcd"], r"--methods \['mcd'\]"),
    ],
)
def test_bad_targets_and_methods_are_one_line_errors(targets, methods, match):
    params = params_from_dict(yaml.safe_load(TINY_PARAMS))
    with pytest.raises(ConfigError, match=match):
        bench_multidomain.run_multidomain(params, targets, methods, [0])
