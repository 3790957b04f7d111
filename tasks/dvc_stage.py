"""Prefect task: bring one DVC stage up to date, with DVC deciding what is stale.

`dvc repro` holds the repository lock for the whole run of a stage, so two stages can never run
at once through it. This task therefore asks DVC whether the stage is stale (`dvc status`),
runs the stage's own command from dvc.yaml (streaming its output into the Prefect log), then
records the result in dvc.lock with `dvc commit` — the same hashes `dvc repro` would write.
Only the short DVC calls are serialised; independent stages train concurrently.

A stage's command runs as an argument list, never through a shell: its ${...} are filled in
from params.yaml, so `preflight` validates params.yaml and every command's arguments before the
first stage starts. Each command runs in its own session and dies with its task's thread
(tasks/processes.py), so stopping `gantl run` stops it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task

from gantl.config import load_params
from gantl.errors import ConfigError, GantlError
from tasks.processes import RunStopped, StageFailed, forget, spawn, stopping

_dvc_lock = threading.Lock()  # DVC's repo lock is per process tree: take turns inside this one

# What a stage command's arguments may hold once dvc.yaml's ${...} are filled in from params:
# names, methods (cyclegan+adda), stage@item, paths and --key=value; never shell syntax.
SAFE_ARG = re.compile(r"^[A-Za-z0-9_.+@/=-]+$")


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
    env["PYTHONUNBUFFERED"] = "1"  # each log line reaches the pipe (and the flow log) at once
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


def params_file(root: str | Path) -> Path:
    """The params file DVC's stages read: params.yaml of `root`, named relative to the current
    directory when it is inside it (as errors show it)."""
    path = Path(root) / "params.yaml"
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def stage_argv(stage: StageInfo, params: str | Path = "params.yaml") -> list[str]:
    """The stage's command as the argument list it runs as (never through a shell).

    Its ${...} were filled in from params, so a value that slipped through into the command
    could carry shell syntax or extra arguments: every argument must match SAFE_ARG."""
    try:
        argv = shlex.split(stage.cmd)
    except ValueError as exc:
        raise ConfigError(f"{params}: stage {stage.name}: command {stage.cmd!r}: {exc}") from None
    bad = [arg for arg in argv if not SAFE_ARG.match(arg)]
    if bad or not argv:
        raise ConfigError(
            f"{params}: stage {stage.name}: command {stage.cmd!r} has unexpected argument "
            f"{bad[0] if bad else ''!r}: stage arguments may only hold letters, digits and "
            "_.+@/=- (check the params it fills in)"
        )
    return argv


def preflight(root: str | Path) -> list[StageInfo]:
    """Validate params.yaml, then read the stage graph and check every stage's command — all
    before any stage runs. Raises ConfigError naming the file (and the stage)."""
    params = params_file(root)
    load_params(params)
    from dvc.exceptions import DvcException

    try:
        stages = read_stage_graph(root)
    except DvcException as exc:
        raise ConfigError(f"{Path(root) / 'dvc.yaml'}: {' '.join(str(exc).split())}") from None
    for stage in stages:
        stage_argv(stage, params)
    return stages


def worth_retrying(task, task_run, state) -> bool:
    """Prefect's retry_condition_fn: retry a failure that may be transient, never a user error
    (a GantlError, or a stage exiting 2: its verdict on its input) nor a run being stopped."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if stopping.is_set() or isinstance(exc, GantlError | RunStopped):
        return False
    return not (isinstance(exc, StageFailed) and exc.returncode == 2)


def last_error_line(lines: list[str]) -> str:
    """The line a failed command's error is in: its last `error:` line, else its last line."""
    errors = [line for line in lines if line.lstrip().lower().startswith("error:")]
    last = (errors or lines or ["(no output)"])[-1].strip()
    return last.split(":", 1)[1].strip() if errors else last


def run_stage_command(stage: StageInfo, root: str, threads: int | None, logger) -> None:
    """Run the stage's argument list in its own session, its output into the Prefect log;
    raise StageFailed with its last error line when it exits non-zero."""
    argv = stage_argv(stage, params_file(root))
    proc = spawn(
        argv,
        stage.name,
        cwd=root,
        env=child_env(threads),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tail: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                logger.info("%s | %s", stage.name, line)
                tail = [*tail[-19:], line]
        code = proc.wait()
    finally:
        forget(proc)
    if stopping.is_set():
        raise RunStopped(f"stage {stage.name} stopped: the run is being stopped", stage.name)
    if code != 0:
        how = f"exit {code}" if code > 0 else f"killed by signal {-code}"
        raise StageFailed(
            f"stage {stage.name} failed ({how}): {last_error_line(tail)}", stage.name, code
        )


@task(
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=worth_retrying,
    task_run_name="stage:{stage.name}",
)
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
    run_stage_command(stage, root, threads, logger)
    record_in_lock(stage.name, root)
    seconds = time.perf_counter() - start
    logger.info("%s: done in %.1fs, recorded in dvc.lock", stage.name, seconds)
    return {"stage": stage.name, "ran": True, "seconds": round(seconds, 2)}
