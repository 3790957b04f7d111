"""Prefect task: bring one DVC stage up to date, with DVC deciding what is stale.

`dvc repro` holds the repository lock for the whole run of a stage, so two stages can never run
at once through it. This task therefore asks DVC whether the stage is stale (`dvc status`),
runs the stage's own command from dvc.yaml (streaming its output into the Prefect log), then
records the result in dvc.lock with `dvc commit` — the same hashes `dvc repro` would write.
Only the short DVC calls are serialised; independent stages train concurrently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task

_dvc_lock = threading.Lock()  # DVC's repo lock is per process tree: take turns inside this one


class StageFailed(RuntimeError):
    """A stage's command exited non-zero; its last output lines are in the message."""


@dataclass(frozen=True)
class StageInfo:
    name: str
    cmd: str
    upstream: tuple[str, ...]


def child_env(threads: int | None = None) -> dict[str, str]:
    """The stage commands (`gantl …`) come from this interpreter's environment.

    `threads` caps each stage's CPU threads so concurrent stages share the cores instead of
    oversubscribing them.
    """
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def dvc(*args: str, root: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a DVC command with this interpreter's DVC; raise with its output when it fails."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        env=child_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise StageFailed(f"dvc {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def read_stage_graph(root: str | Path) -> list[StageInfo]:
    """Stages of dvc.yaml in dependency order, each with the stages it depends on."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # edges: stage → stage it depends on
        order = list(reversed(list(nx.topological_sort(graph))))
        return [
            StageInfo(
                name=stage.name,  # plain name: `addressing` is relative to the caller's cwd
                cmd=stage.cmd,
                upstream=tuple(dep.name for dep in graph.successors(stage)),
            )
            for stage in order
            if stage.cmd
        ]


def is_stale(stage: str, root: str | Path) -> bool:
    """True when DVC reports changed deps, params, outs or a missing dvc.lock entry."""
    with _dvc_lock:
        status = json.loads(dvc("status", stage, "--json", root=root).stdout or "{}")
    return bool(status.get(stage))


def threads_per_stage(stages: list[StageInfo]) -> dict[str, int]:
    """CPU threads for each stage: the cores shared by the stages of its level of the graph.

    A stage's level is its longest path from the graph's roots; stages of one level can run at
    once, so they split the cores, while a stage alone at its level (prepare, evaluate) gets all
    of them. A fixed share per stage keeps a run's numbers independent of which stage finished
    first (results depend on the thread count).
    """
    depth: dict[str, int] = {}
    for stage in stages:  # dependency order: upstream depths are known
        depth[stage.name] = 1 + max((depth[u] for u in stage.upstream), default=0)
    width = Counter(depth.values())
    cores = os.cpu_count() or 1
    return {name: max(1, cores // width[d]) for name, d in depth.items()}


def record_in_lock(stage: str, root: str | Path) -> None:
    """Record a finished stage's hashes in dvc.lock (`dvc commit`), one DVC call at a time.

    The lock is only ever touched from module-level functions like this one, which pickle by
    reference: served flows are cloudpickled into their run's subprocess, and a lock cannot be.
    """
    with _dvc_lock:
        dvc("commit", "--force", stage, root=root)


@task(retries=1, retry_delay_seconds=5, task_run_name="stage:{stage.name}")
def bring_stage_up_to_date(
    stage: StageInfo, root: str, force: bool = False, threads: int | None = None
) -> dict:
    """Run `stage` if DVC says it is stale (or `force`), then record it in dvc.lock."""
    logger = get_run_logger()
    if not force and not is_stale(stage.name, root):
        logger.info("%s: up to date", stage.name)
        return {"stage": stage.name, "ran": False, "seconds": 0.0}
    logger.info("%s: running `%s`", stage.name, stage.cmd)
    start = time.perf_counter()
    proc = subprocess.Popen(
        stage.cmd,
        shell=True,
        cwd=root,
        env=child_env(threads),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            logger.info("%s | %s", stage.name, line)
            tail = [*tail[-19:], line]
    if proc.wait() != 0:
        raise StageFailed(
            f"stage {stage.name} failed (exit {proc.returncode}):\n" + "\n".join(tail)
        )
    record_in_lock(stage.name, root)
    seconds = time.perf_counter() - start
    logger.info("%s: done in %.1fs, recorded in dvc.lock", stage.name, seconds)
    return {"stage": stage.name, "ran": True, "seconds": round(seconds, 2)}
