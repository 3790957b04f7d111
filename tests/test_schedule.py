"""`gantl schedule` against a real Prefect server on a loopback port.

The server and the serve process are separate processes, as in production: the test creates the
deployment through the CLI, triggers a run through the API, waits for it to complete, checks the
champion decision it recorded, then stops the serve process before the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gantl import champion
from tests.conftest import copy_repo, run

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, api_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "results"),
    }
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _wait(check, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited {proc.returncode}:\n{_output(proc)}")
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _output(proc: subprocess.Popen) -> str:
    return proc.stdout.read() if proc.stdout and proc.poll() is not None else ""


def _stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """`prefect server start` on a free loopback port; yields its API URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        _wait(healthy, 120, "the Prefect server", proc)
        yield url
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def repo(reproduced_repo, tmp_path_factory) -> Path:
    return copy_repo(reproduced_repo, tmp_path_factory.mktemp("schedule") / "repo")


def test_scheduled_retrain_runs_on_a_real_server_and_records_a_decision(repo, tmp_path):
    home = tmp_path / "prefect-home"
    home.mkdir()
    with prefect_server(home) as url:
        serve = subprocess.Popen(
            ["gantl", "schedule", "--cron", "0 3 * * *", "--name", "nightly"],
            cwd=repo,
            env=_env(home, url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            env = _env(home, url)

            def deployed() -> bool:
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "prefect",
                        "deployment",
                        "inspect",
                        "gantl-retrain/nightly",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                return proc.returncode == 0 and "0 3 * * *" in proc.stdout

            _wait(deployed, 120, "the deployment with its cron schedule", serve)
            triggered = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "deployment",
                    "run",
                    "gantl-retrain/nightly",
                    "--watch",
                    "--watch-timeout",
                    "400",
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            assert triggered.returncode == 0, triggered.stdout + triggered.stderr
            assert "Completed" in triggered.stdout, triggered.stdout
        finally:
            _stop(serve)  # the serve process goes first, the server after it
        assert serve.returncode is not None
        registry = champion.read_registry(repo)
        assert len(registry) == 1
        assert registry[0]["promoted"] and registry[0]["reason"] == "no champion yet"

        # the GPU-machine recipe: a deployment on a process work pool, run by a worker
        prefect = [sys.executable, "-m", "prefect"]
        run([*prefect, "work-pool", "create", "gpu", "--type", "process"], repo, env=env)
        deployed = run(
            ["gantl", "schedule", "--cron", "0 4 * * *", "--name", "pooled", "--pool", "gpu"],
            repo,
            env=env,
        )
        assert "work pool 'gpu'" in deployed.stdout
        inspect = run([*prefect, "deployment", "inspect", "gantl-retrain/pooled"], repo, env=env)
        assert "'work_pool_name': 'gpu'" in inspect.stdout and "0 4 * * *" in inspect.stdout
        run([*prefect, "deployment", "run", "gantl-retrain/pooled"], repo, env=env)
        run([*prefect, "worker", "start", "--pool", "gpu", "--run-once"], repo, env=env)
    registry = champion.read_registry(repo)
    assert len(registry) == 2, registry
    assert not registry[1]["promoted"] and registry[1]["reason"] == "target data unchanged"
    assert (repo / "models" / "champion" / "champion.json").is_file()
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_bad_cron_is_a_clear_error(repo):
    proc = run(["gantl", "schedule", "--cron", "61 3 * * *"], repo, check=False)
    assert proc.returncode == 2
    assert "--cron" in proc.stderr and "61 3 * * *" in proc.stderr
