"""`gantl run` under faults and bad input: params reach no shell, one run per repo, a stage's
user error is one line and not retried, and stopping the run stops everything it started."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
import yaml

from flows.guard import hide_tracebacks, run_lock
from gantl.errors import ConfigError
from tasks.dvc_stage import StageInfo, last_error_line, preflight, stage_argv
from tasks.processes import StageFailed
from tests.conftest import TINY_PARAMS, make_pipeline_copy, run


def _env(tmp_path: Path) -> dict[str, str]:
    """The subprocess' own Prefect home and temporary server (not the tests' harness)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return env | {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(tmp_path / "prefect-results"),
    }


def _params(**sections) -> str:
    params = yaml.safe_load(TINY_PARAMS)
    for name, values in sections.items():
        params[name] |= values
    return yaml.safe_dump(params, sort_keys=False)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# --- params never reach a shell ---------------------------------------------------------------


def test_stage_commands_run_as_checked_argument_lists():
    ok = StageInfo("adapt_pixel@adda", "gantl stage adapt --method cyclegan+adda", ())
    assert stage_argv(ok) == ["gantl", "stage", "adapt", "--method", "cyclegan+adda"]
    for cmd in (
        "gantl stage adapt --method cyclegan+adda$(touch pwned)",
        "gantl stage prepare; touch pwned",
        "gantl stage prepare `touch pwned`",
        "gantl stage prepare 'a b'",
        "gantl stage 'prepare",
    ):
        with pytest.raises(ConfigError, match=r"^params\.yaml: stage adapt_pixel@x: command"):
            stage_argv(StageInfo("adapt_pixel@x", cmd, ()))


def test_preflight_validates_params_before_reading_the_stage_graph(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text(_params(adapt={"pixel_methods": ["adda;touch pwned"]}))
    monkeypatch.chdir(tmp_path)  # no dvc.yaml, no DVC repo: reading the graph would fail else
    with pytest.raises(ConfigError, match=r"^params\.yaml: adapt\.pixel_methods\.0: "):
        preflight(tmp_path)


def test_gantl_run_rejects_shell_syntax_in_params_before_anything_runs(tmp_path):
    repo = make_pipeline_copy(
        tmp_path / "repo", _params(adapt={"pixel_methods": ["adda$(touch pwned)"]})
    )
    proc = run(["gantl", "run"], repo, check=False, env=_env(tmp_path))
    assert proc.returncode == 2
    assert _errors(proc.stderr) == [
        "error: params.yaml: adapt.pixel_methods.0: Input should be 'source_only', 'dann', "
        "'adda' or 'cdan' (got 'adda$(touch pwned)')"
    ]
    assert not list(tmp_path.rglob("pwned"))
    assert not (repo / ".gantl").exists()  # refused before taking the lock, let alone Prefect
    assert not list((tmp_path / "prefect-home").glob("*.db"))


def test_a_value_that_params_allow_still_cannot_inject_into_a_command(tmp_path):
    """A dvc.yaml that interpolates a free-text value: the command check stops it."""
    repo = make_pipeline_copy(tmp_path / "repo", TINY_PARAMS)
    (repo / "note.yaml").write_text("note: x$(touch pwned)\n")
    (repo / "dvc.yaml").write_text(
        "vars: [note.yaml]\nstages:\n  noted:\n    cmd: gantl stage prepare --note ${note}\n"
    )
    proc = run(["gantl", "run"], repo, check=False, env=_env(tmp_path))
    assert proc.returncode == 2
    assert _errors(proc.stderr) == [
        "error: params.yaml: stage noted: command 'gantl stage prepare --note x$(touch pwned)' "
        "has unexpected argument 'x$(touch': stage arguments may only hold letters, "
        "digits and _.+@/=- (check the params it fills in)"
    ]
    assert not list(tmp_path.rglob("pwned"))


# --- one run per repository -------------------------------------------------------------------


_TRY_LOCK = """
import sys
from flows.guard import RunLocked, run_lock
try:
    with run_lock(sys.argv[1], wait=len(sys.argv) > 2, on_wait=print):
        print("acquired", flush=True)
except RunLocked as exc:
    print(exc)
    sys.exit(2)
"""


def test_run_lock_is_one_holder_at_a_time_and_reentrant(tmp_path):
    def other_process(*args: str) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "-c", _TRY_LOCK, str(tmp_path), *args], Path.cwd(), False)

    with run_lock(tmp_path) as path:
        assert path == tmp_path.resolve() / ".gantl" / "run.lock"
        assert path.read_text() == f"{os.getpid()}\n"
        with run_lock(tmp_path / "."):  # the flows take it again inside `gantl run`
            pass
        refused = other_process()  # still held after the inner exit
        assert refused.returncode == 2
        assert refused.stdout.strip() == (
            f"another gantl run holds {path} (pid {os.getpid()}); wait for it (--wait) or stop it"
        )
    assert other_process().stdout.strip() == "acquired"


def test_run_lock_can_wait_for_the_holder(tmp_path):
    with run_lock(tmp_path):
        waiter = subprocess.Popen(
            [sys.executable, "-c", _TRY_LOCK, str(tmp_path), "--wait"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert waiter.stdout.readline().startswith("waiting for the gantl run holding ")
    out, _ = waiter.communicate(timeout=30)
    assert waiter.returncode == 0 and out.strip() == "acquired"


def test_a_second_gantl_run_refuses_at_once(tmp_path):
    repo = make_pipeline_copy(tmp_path / "repo", TINY_PARAMS)
    with run_lock(repo) as path:
        start = time.monotonic()
        proc = run(["gantl", "run"], repo, check=False, env=_env(tmp_path))
        seconds = time.monotonic() - start
    assert proc.returncode == 2
    assert _errors(proc.stderr) == [
        f"error: another gantl run holds {path} (pid {os.getpid()}); wait for it (--wait) or "
        "stop it"
    ]
    assert seconds < 10  # before Prefect or DVC: the import and the params check
    assert not list((tmp_path / "prefect-home").glob("*.db"))  # no Prefect server started


# --- a stage's failure: one line, a user error not retried ------------------------------------


def test_the_failure_line_is_the_stages_last_error_line():
    assert last_error_line(["loading", "error: x.npz: not found", "bye"]) == "x.npz: not found"
    assert last_error_line(["Traceback …", "RuntimeError: boom"]) == "RuntimeError: boom"
    assert last_error_line([]) == "(no output)"


def test_prefect_console_logs_lose_their_tracebacks(monkeypatch):
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()  # before the handlers are swapped: it would configure them else
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    hide_tracebacks()
    try:
        raise StageFailed("stage x failed (exit 2): bad", "x", 2)
    except StageFailed:
        logging.getLogger("prefect.test").exception("Task run failed")
    assert stream.getvalue() == "ERROR Task run failed\n"


@pytest.mark.parametrize(("code", "status"), [(2, 2), (1, 1), (-9, 1)])
def test_a_failed_stage_is_one_line_and_its_exit_status(
    tmp_path, monkeypatch, capsys, code, status
):
    from contextlib import nullcontext

    from flows.cli import pipeline_run

    (tmp_path / "params.yaml").write_text(TINY_PARAMS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("flows.guard.prefect_server", nullcontext)  # no server for this one
    monkeypatch.setattr("flows.guard.hide_tracebacks", lambda: None)
    monkeypatch.delenv("GANTL_DEBUG", raising=False)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with pytest.raises(typer.Exit) as exit_, pipeline_run("run", tmp_path):
        raise StageFailed(f"stage prepare failed (exit {code}): x.npz: not found", "prepare", code)
    assert exit_.value.exit_code == status
    err = capsys.readouterr().err
    assert _errors(err) == [f"error: stage prepare failed (exit {code}): x.npz: not found"]
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == blocked  # unblocked again


def _counting_stage(tmp_path: Path, code: int) -> StageInfo:
    script = tmp_path / f"exit{code}.py"
    script.write_text(
        "import sys\nopen('runs', 'a').write('x')\n"
        f"print('error: bad input', file=sys.stderr)\nsys.exit({code})\n"
    )
    return StageInfo(f"exit{code}", f"python {script.name}", ())


@pytest.mark.slow
def test_a_stage_exiting_2_is_not_retried_other_failures_are(tmp_path, prefect_harness):
    from prefect import flow

    from tasks.dvc_stage import bring_stage_up_to_date

    @flow
    def one_stage(stage: StageInfo) -> dict:
        quick = bring_stage_up_to_date.with_options(retry_delay_seconds=0)
        return quick(stage, str(tmp_path), force=True)

    with pytest.raises(StageFailed, match=r"^stage exit2 failed \(exit 2\): bad input$"):
        one_stage(_counting_stage(tmp_path, 2))
    assert (tmp_path / "runs").read_text() == "x"  # once: a user error is not retried
    (tmp_path / "runs").unlink()
    with pytest.raises(StageFailed, match=r"^stage exit1 failed \(exit 1\): bad input$"):
        one_stage(_counting_stage(tmp_path, 1))
    assert (tmp_path / "runs").read_text() == "xx"  # retried once


# --- stopping the run stops what it started ---------------------------------------------------


_STOPPABLE = """
import os, sys
from flows.guard import stop_on_signals
from tasks.processes import spawn

with stop_on_signals("run"):
    proc = spawn(["sleep", "60"], "nap")
    print(proc.pid, flush=True)
    if sys.argv[1] == "die":
        os.kill(os.getpid(), 9)
    proc.wait()
"""


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True
        if "State:\tZ" in status:  # a zombie its new parent has yet to reap: dead
            return True
        time.sleep(0.05)
    return False


def _sig_blocked(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln for ln in status.splitlines() if ln.startswith("SigBlk:")).split()[1], 16)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_stages_in_their_own_session_with_one_line(sig):
    parent = subprocess.Popen(
        [sys.executable, "-c", _STOPPABLE, "wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    child = int(parent.stdout.readline())
    assert os.getsid(child) == child  # its own session: a Ctrl-C reaches gantl, not it
    assert _sig_blocked(child) & (1 << (sig - 1)) == 0  # what gantl blocks, the stage does not
    parent.send_signal(sig)
    _, stderr = parent.communicate(timeout=20)
    assert parent.returncode == 128 + sig
    assert _errors(stderr) == [
        f"error: gantl run stopped by {sig.name}: stopped stage(s) nap; dvc.lock records only "
        "the stages that finished"
    ]
    assert _gone(child)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_a_stage_dies_with_a_killed_parent():
    parent = subprocess.Popen([sys.executable, "-c", _STOPPABLE, "die"], stdout=subprocess.PIPE)
    child = int(parent.stdout.readline())
    assert parent.wait(10) == -signal.SIGKILL
    assert _gone(child)


def _processes_in(repo: Path) -> dict[int, str]:
    """pid → command line of every process working in `repo` or naming it."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone, or not ours to read
            continue
        if cmdline and (cwd == str(repo) or cwd.startswith(f"{repo}/") or str(repo) in cmdline):
            found[int(entry.name)] = cmdline
    return found


def _start_run_and_wait_for_a_stage(repo: Path, tmp_path: Path) -> tuple[subprocess.Popen, dict]:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = _env(tmp_path) | {"PATH": path, "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen(
        ["gantl", "run"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        running = _processes_in(repo)
        if any(" stage " in f" {cmd} " and "gantl" in cmd for cmd in running.values()):
            assert any("uvicorn" in cmd for cmd in running.values()), running  # the server
            return parent, running
        if parent.poll() is not None:
            raise AssertionError(f"gantl run exited {parent.returncode}:\n{parent.stderr.read()}")
        time.sleep(0.05)
    parent.kill()
    raise AssertionError("no stage started within 90 s")


def _wait_until_gone(repo: Path, timeout: float = 20) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while (left := _processes_in(repo)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_the_stage_and_the_prefect_server(tmp_path):
    repo = make_pipeline_copy(tmp_path / "repo", TINY_PARAMS)
    parent, running = _start_run_and_wait_for_a_stage(repo, tmp_path)
    parent.send_signal(signal.SIGTERM)
    _, stderr = parent.communicate(timeout=20)
    assert parent.returncode == 143
    assert _wait_until_gone(repo) == {}, running
    last = _errors(stderr)[-1]
    assert last.startswith("error: gantl run stopped by SIGTERM: stopped stage(s) ")
    assert last.endswith(
        "; stopped the Prefect server; dvc.lock records only the stages that finished"
    )
    assert "Traceback" not in stderr


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_a_killed_gantl_run_takes_its_stage_and_server_with_it(tmp_path):
    repo = make_pipeline_copy(tmp_path / "repo", TINY_PARAMS)
    parent, running = _start_run_and_wait_for_a_stage(repo, tmp_path)
    parent.kill()  # SIGKILL: no handler runs; the children must die by themselves
    parent.wait()
    assert _wait_until_gone(repo, 10) == {}, running
