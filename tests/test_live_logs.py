"""Stage output reaches the Prefect log line by line while the stage runs, not when it ends."""

from __future__ import annotations

import re
import time
from pathlib import Path

import yaml

from tasks.dvc_stage import read_stage_graph, run_stage_command
from tests.conftest import copy_repo

EPOCHS = 4


class TimedLog:
    """A stand-in for Prefect's run logger that notes when each line arrived."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []

    def info(self, message: str, *args: object) -> None:
        self.lines.append((time.monotonic(), message % args))


def test_adaptation_epoch_lines_arrive_as_each_epoch_ends(
    reproduced_repo, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("GANTL_QUIET", "0")  # the tests are quiet; a pipeline run is not
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["adda"]["epochs"] = EPOCHS
    params["adapt"]["validate_every"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (stage,) = [s for s in read_stage_graph(repo) if s.name == "adapt@adda"]

    log = TimedLog()
    run_stage_command(stage, str(repo), 1, log)

    epochs = [(t, line) for t, line in log.lines if re.search(rf"epoch \d+/{EPOCHS}\b", line)]
    assert len(epochs) == EPOCHS, log.lines
    # each line says how long its epoch took: the lines must arrive that far apart, not
    # together at the end (a buffered pipe or a history logged after training)
    took = [float(re.search(r"\((\d+\.\d+)s\)\s*$", line).group(1)) for _, line in epochs]
    span = epochs[-1][0] - epochs[0][0]
    assert sum(took[1:]) > 0.05
    assert span >= 0.5 * sum(took[1:]), (span, took)
