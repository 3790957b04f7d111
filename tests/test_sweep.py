"""Sweeps: the grid, the leaderboard, and a 2 methods × 2 seeds sweep on a Dask LocalCluster
whose leaderboard must equal the same points run one by one without DVC or Prefect."""

from __future__ import annotations

import json

import pytest

from gantl.bench import run_bench
from gantl.config import load_params
from gantl.errors import ConfigError
from gantl.sweep import Point, grid, leaderboard, leaderboard_markdown, parse_set
from tests.conftest import copy_repo, run


def test_grid_names_every_combination_uniquely():
    points = grid(["dann", "cyclegan+adda"], [0, 1], {"dann.lr": [0.01, 0.02]}, "g")
    assert len(points) == 8 and len({p.name for p in points}) == 8
    assert points[0] == Point("g-dann-s0-lr0.01", "dann", 0, {"dann.lr": 0.01})
    assert all("+" not in p.name for p in points)


def test_overrides_run_only_the_point():
    assert Point("x", "dann", 3).overrides() == [
        "experiment.seeds=[3]",
        'adapt.methods=["dann"]',
        "adapt.pixel_methods=[]",
    ]
    pixel = Point("y", "stargan+dann", 0, {"adda.lr": 0.001}).overrides()
    assert pixel == [
        "experiment.seeds=[0]",
        "adapt.methods=[]",
        'adapt.pixel_methods=["dann"]',
        'translate.gan="stargan"',
        "adda.lr=0.001",
    ]


def test_bad_grid_and_set_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown"):
        grid(["dan"], [0])
    with pytest.raises(ConfigError, match="at least one"):
        grid([], [0])
    with pytest.raises(ConfigError, match="key=value"):
        parse_set("dann.lr")
    assert parse_set("dann.lr=0.01,0.02") == ("dann.lr", [0.01, 0.02])
    assert parse_set("translate.gan=cyclegan,stargan") == ("translate.gan", ["cyclegan", "stargan"])


def _show(name: str, acc: float) -> list[dict]:
    results = {
        "source_only": {"target_acc_mean": 0.5, "validator_score_mean": -2.0},
        "oracle": {"target_acc_mean": 0.9},
        "dann": {
            "target_acc_mean": acc,
            "validator_score_mean": -1.5,
            "target_acc_upper_bound_mean": acc + 0.01,
        },
    }
    data = {
        "metrics": {
            "metrics/summary.json": {"data": {"results": results, "validator": "neg_entropy"}}
        }
    }
    return [
        {"rev": "workspace", "experiments": None},
        {"rev": "abc", "experiments": [{"revs": [{"rev": "f" * 40, "name": name, "data": data}]}]},
    ]


def test_leaderboard_reads_exp_show_and_lists_failures_last():
    points = [Point("a", "dann", 0), Point("b", "dann", 1)]
    rows = leaderboard(points, _show("b", 0.7))
    assert [r["experiment"] for r in rows] == ["b", "a"]
    assert rows[0]["target_acc"] == 0.7 and rows[0]["source_only_acc"] == 0.5
    assert "error" in rows[1]
    table = leaderboard_markdown(rows)
    assert "| 1 | b | dann | 1 | 70.00 | -1.5000 | 71.00 | 50.00 | 90.00 |" in table


@pytest.mark.slow
def test_sweep_on_a_dask_local_cluster_matches_the_individual_runs(
    reproduced_repo, tmp_path, prefect_harness
):
    from flows.sweep import sweep, task_runner

    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    run(["git", "add", "dvc.lock"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lock"], repo)
    runner = task_runner(dask_workers=2, scratch=tmp_path / "dask")
    rows = sweep.with_options(task_runner=runner)(
        root=str(repo), methods=["dann", "adda"], seeds=[0, 1], prefix="t", threads=1
    )
    assert len(rows) == 4 and not any("error" in r for r in rows)
    written = json.loads((repo / "sweeps" / "leaderboard.json").read_text())
    assert written == json.loads(json.dumps(rows))
    assert (repo / "sweeps" / "leaderboard.md").read_text().count("| t-") == 4
    assert (tmp_path / "dask").is_dir()  # the workers' scratch stays in a dir the test owns
    listed = run(["dvc", "exp", "list", "--name-only"], repo).stdout.split()
    assert {"t-dann-s0", "t-dann-s1", "t-adda-s0", "t-adda-s1"} <= set(listed)
    with pytest.raises(ConfigError, match="already exist on this commit"):
        sweep(root=str(repo), methods=["dann"], seeds=[0], prefix="t")
    # the same points through `gantl bench` (the same DVC graph, no Prefect, no experiments),
    # all in one run: each seed's training depends on its own seed alone
    params = load_params(repo / "params.yaml")
    bench = run_bench(params, ["dann", "adda"], [0, 1], workdir=tmp_path, root=repo, threads=1)
    for row in rows:
        seed = bench["seeds"].index(row["seed"])
        assert row["target_acc"] == bench["results"][row["method"]]["target_acc_per_seed"][seed]
        assert (
            row["source_only_acc"] == bench["results"]["source_only"]["target_acc_per_seed"][seed]
        )
