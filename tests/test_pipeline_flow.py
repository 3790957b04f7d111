"""The Prefect pipeline flow over the DVC stages, under one session-wide test harness."""

from __future__ import annotations

import json

import pytest

from tasks.dvc_stage import StageInfo, read_stage_graph, stage_argv, threads_per_stage
from tests.conftest import ROOT, TINY_PARAMS, make_pipeline_copy, run

pytestmark = pytest.mark.slow


def test_stage_graph_is_read_from_dvc_yaml():
    stages = read_stage_graph(ROOT)
    names = [s.name for s in stages]
    by_name = {s.name: s for s in stages}
    first = "validate" if "validate" in by_name else "prepare"  # validate: checks params first
    assert names[0] == first and names[-2:] == ["evaluate", "report"]

    def before(name: str) -> set[str]:  # every stage `name` waits for, directly or not
        direct = set(by_name[name].upstream)
        return direct.union(*(before(u) for u in direct))

    assert all(first in before(s.name) for s in stages[1:])  # every stage waits for it

    def upstream(name: str) -> set[str]:
        return set(by_name[name].upstream) - {"validate"}

    assert upstream("evaluate") == {
        "prepare",
        "pretrain",
        "oracle",
        "translate",
        "adapt@adda",
        "adapt_pixel@source_only",
        "refine@adda",
    }
    # the page reads the summary and every stage's plots (curves, embeddings, translations)
    assert upstream("report") == upstream("evaluate") | {"evaluate"}
    assert upstream("refine@adda") == {"prepare", "adapt@adda"}
    assert upstream("translate") == {"prepare", "pretrain", "oracle"}
    assert upstream("adapt_pixel@source_only") == {"prepare", "pretrain", "translate"}
    assert by_name["adapt_pixel@source_only"].cmd == (
        "gantl stage adapt --method cyclegan+source_only"
    )
    assert upstream("adapt@adda") == {"prepare", "pretrain"}
    assert by_name["adapt@adda"].cmd == "gantl stage adapt --method adda"
    assert upstream("pretrain") == {"prepare"}
    assert by_name["pretrain"].cmd == "gantl stage pretrain"
    for stage in stages:  # each runs as a checked argument list, never through a shell
        assert stage_argv(stage) == stage.cmd.split()


def test_concurrent_stages_share_the_cores(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    chain = [StageInfo("a", "x", ()), StageInfo("b", "x", ("a",))]
    fork = [*chain, StageInfo("c", "x", ("a",)), StageInfo("d", "x", ("b", "c"))]
    assert threads_per_stage(chain) == {"a": 8, "b": 8}
    assert threads_per_stage(fork) == {"a": 8, "b": 4, "c": 4, "d": 8}


def test_flow_runs_stages_records_them_in_dvc_and_reruns_nothing(tmp_path, prefect_harness):
    from flows.pipeline import pipeline

    repo = make_pipeline_copy(tmp_path, TINY_PARAMS)
    summary = pipeline(root=str(repo))
    assert set(summary["results"]) == {"source_only", "oracle", "dann", "adda", "cyclegan+adda"}
    assert summary == json.loads((repo / "metrics" / "summary.json").read_text())
    # every stage was recorded: DVC has nothing left to do
    assert "up to date" in run(["dvc", "status"], repo).stdout
    assert "didn't change" in run(["dvc", "repro"], repo).stdout

    state = pipeline(root=str(repo), return_state=True)
    assert state.is_completed()

    from prefect.client.orchestration import get_client

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts()

    import asyncio

    found = asyncio.run(artifacts())
    keys = {a.key for a in found}
    assert {"gantl-summary", "gantl-report", "gantl-translation", "gantl-report-page"} <= keys
    page = next(a for a in found if a.key == "gantl-report-page")
    assert page.type == "markdown"  # Prefect stores a link as its markdown: [text](uri)
    assert page.data.endswith(f"({(repo / 'reports' / 'index.html').resolve().as_uri()})")
    translation = next(a for a in found if a.key == "gantl-translation")
    assert "(kept)" in translation.data and "label-free score" in translation.data
