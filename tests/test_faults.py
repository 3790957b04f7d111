"""Faults a user meets: corrupted weights, a params mistake under `dvc repro`, a stage that dies
half-way (a full disk, a kill mid-swap), leftover temp folders, a truncated resume state.

Each case checks the one-line error and that nothing already written is lost. The pipeline cases
work on copies of the session's reproduced tiny repo; the rest on files of their own.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from gantl import transaction
from gantl.checkpoint import MANIFEST, WEIGHTS, load_classifier, save_checkpoint
from gantl.errors import DataError
from gantl.io import atomic_dir, write_json
from gantl.models.classifier import Architecture, Classifier
from gantl.reporting.page import headline_figures
from gantl.training.resume import load_state, save_state
from tests.conftest import copy_repo, run
from tests.test_reproducibility import without_volatile

OUTPUTS = ("data", "models", "metrics", "reports", "plots")


def snapshot(repo: Path, tops: tuple[str, ...] = OUTPUTS) -> dict[str, str]:
    """Every file under the output folders → the SHA-256 of its bytes."""
    return {
        p.relative_to(repo).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for top in tops
        for p in sorted((repo / top).rglob("*"))
        if p.is_file()
    }


def flip_bytes(path: Path, count: int = 100) -> None:
    """Overwrite `count` bytes in the middle of a file: a safetensors header stays valid."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + count] = os.urandom(count)
    path.write_bytes(bytes(data))


# --- weights are checked on every load ---------------------------------------------------------


def test_corrupted_weights_stop_evaluate_with_one_line_and_the_restore_command(
    reproduced_repo, tmp_path
):
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    flip_bytes(repo / "models" / "dann" / "seed_0" / "selected" / WEIGHTS)
    before = snapshot(repo, ("metrics", "reports", "plots"))
    proc = run(["gantl", "stage", "evaluate"], repo, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "models/dann/seed_0/selected/model.safetensors" in lines[0]
    assert "does not match its manifest" in lines[0]
    assert "dvc checkout --force models/dann" in lines[0]
    assert snapshot(repo, ("metrics", "reports", "plots")) == before  # nothing recommended


def _saved_classifier(directory: Path) -> Classifier:
    torch.manual_seed(0)
    model = Classifier(Architecture("lenet", 1, 28, 10))
    save_checkpoint(directory, model, {"stage": "test"})
    return model


def test_the_champion_rescoring_path_refuses_corrupted_weights(reproduced_repo, tmp_path):
    from gantl.champion import score_checkpoint
    from gantl.config import load_params

    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    checkpoint = repo / "models" / "adda" / "seed_0" / "selected"
    flip_bytes(checkpoint / WEIGHTS)
    with pytest.raises(DataError, match="does not match its manifest's weights_sha256"):
        score_checkpoint(load_params(repo / "params.yaml"), checkpoint, repo / "data" / "prepared")


def test_a_manifest_that_does_not_fit_its_weights_is_one_line(tmp_path):
    _saved_classifier(tmp_path / "ckpt")
    manifest = json.loads((tmp_path / "ckpt" / MANIFEST).read_text())
    manifest["architecture"]["num_classes"] = 7
    (tmp_path / "ckpt" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError) as caught:
        load_classifier(tmp_path / "ckpt")
    message = str(caught.value)
    assert "\n" not in message
    assert "architecture record does not fit the weights" in message and "size mismatch" in message


def test_untouched_weights_load_as_saved(tmp_path):
    model = _saved_classifier(tmp_path / "ckpt")
    loaded, _ = load_classifier(tmp_path / "ckpt")
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


# --- params are validated before DVC removes anything ------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"pretrain": {"bogus": 1}},
        {"adapt": {"methods": ["dann", "mcd"]}},
        {"adapt": {"pixel_methods": ["adda$(touch pwned)"]}},
        {"dann": {"lr": float("inf")}},
    ],
    ids=["unknown-key", "unknown-method", "shell", "inf-lr"],
)
def test_a_params_mistake_under_dvc_repro_loses_no_output(reproduced_repo, tmp_path, change):
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in change.items():
        params[section] = {**params[section], **values}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    before = snapshot(repo)
    proc = run(["dvc", "repro"], repo, check=False)
    assert proc.returncode != 0
    assert "error: params.yaml:" in proc.stdout + proc.stderr
    after = snapshot(repo)
    before.pop("data/validated.json")  # the validate stage's own marker, nothing else
    assert after == before
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_leftover_temp_folders_are_never_part_of_an_output(reproduced_repo, tmp_path):
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    leftover = repo / "models" / ".source.x1y2.tmp"
    leftover.mkdir()
    (leftover / WEIGHTS).write_bytes(b"half written")
    (repo / "metrics" / ".summary.json.abc.tmp").write_text("{")
    assert "up to date" in run(["dvc", "status"], repo).stdout


# --- a stage's outputs swap in together ----------------------------------------------------------


def _old_outputs(root: Path) -> dict[str, str]:
    write_json(root / "metrics" / "m.json", {"v": "old"})
    with atomic_dir(root / "models" / "net") as tmp:
        (tmp / "w").write_text("old")
    return snapshot(root, ("metrics", "models"))


def test_a_stage_that_fails_half_way_keeps_every_old_output(tmp_path):
    before = _old_outputs(tmp_path)
    roots = [tmp_path / "metrics", tmp_path / "models"]
    with pytest.raises(OSError), transaction.stage_transaction(roots, tmp_path / "staging"):
        with atomic_dir(tmp_path / "models" / "net") as tmp:
            (tmp / "w").write_text("new")
        raise OSError(errno.ENOSPC, "No space left on device", "metrics/m.json")
    assert snapshot(tmp_path, ("metrics", "models")) == before
    assert list((tmp_path / "staging").iterdir()) == []


def test_a_stage_that_runs_out_of_disk_keeps_every_old_output(
    reproduced_repo, tmp_path, monkeypatch
):
    """evaluate writes its confusion plots, then its reports, then the summary: the disk fills
    at the last one, and the plots and reports already written must not be swapped in."""
    from typer.testing import CliRunner

    from gantl.cli import app
    from gantl.io import write_json as real_write_json
    from gantl.stages import evaluate

    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    before = snapshot(repo)

    def full_disk_at_the_summary(path, data):
        if Path(path).name == "summary.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write_json(path, data)

    monkeypatch.setattr(evaluate, "write_json", full_disk_at_the_summary)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(app, ["stage", "evaluate", "--quiet"])
    assert isinstance(result.exception, OSError)
    assert snapshot(repo) == before
    assert not list((repo / ".gantl" / "staging").iterdir())


@pytest.fixture
def small_disk(tmp_path):
    """A 12 MiB tmpfs (where this machine lets the tests mount one), unmounted afterwards."""
    import shutil
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(disk)]
    if shutil.which("mount") is None or subprocess.run(mount, capture_output=True).returncode:
        pytest.skip(
            "cannot mount a tmpfs here (needs root): the on-purpose failing write covers it"
        )
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_real_full_disk_is_one_line_and_keeps_every_old_output(reproduced_repo, small_disk):
    import shutil

    repo = small_disk / "repo"
    repo.mkdir()
    for name in ("params.yaml", *OUTPUTS):
        src = reproduced_repo / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, repo / name)
    before = snapshot(repo)
    free = shutil.disk_usage(small_disk).free
    with open(small_disk / "filler", "wb") as f:  # leave 8 KiB: the reports do not fit
        f.truncate(0)
        os.posix_fallocate(f.fileno(), 0, free - 8192)
    proc = run(["gantl", "stage", "evaluate", "--quiet"], repo, check=False)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "No space left on device" in line
    assert snapshot(repo) == before
    assert not list((repo / ".gantl" / "staging").iterdir())


def test_a_full_disk_under_safetensors_is_an_oserror_naming_the_file(tmp_path, monkeypatch):
    import safetensors.torch
    from safetensors import SafetensorError

    from gantl.io import save_safetensors

    def full(tensors, filename, metadata=None):
        raise SafetensorError("Error while serializing: I/O error: No space left (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(OSError) as caught:
        save_safetensors({"w": torch.zeros(2)}, tmp_path / "w.safetensors")
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(tmp_path / "w.safetensors")


class _Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, and the process's locks are released."""


def test_a_kill_in_the_middle_of_the_swap_is_finished_by_the_next_stage(tmp_path, monkeypatch):
    _old_outputs(tmp_path)
    roots, staging = [tmp_path / "metrics", tmp_path / "models"], tmp_path / "staging"
    real_apply = transaction._apply

    def die_after_first_move(folder, journal):
        real_apply(folder, journal[:1])
        raise _Killed

    monkeypatch.setattr(transaction, "_apply", die_after_first_move)
    with pytest.raises(_Killed), transaction.stage_transaction(roots, staging):
        write_json(tmp_path / "metrics" / "m.json", {"v": "new"})
        with atomic_dir(tmp_path / "models" / "net") as tmp:
            (tmp / "w").write_text("new")
    assert json.loads((tmp_path / "metrics" / "m.json").read_text()) == {"v": "new"}
    assert (tmp_path / "models" / "net" / "w").read_text() == "old"  # a mixed state, for now
    monkeypatch.setattr(transaction, "_apply", real_apply)
    with transaction.stage_transaction(roots, staging):  # the next stage finishes the swap
        pass
    assert (tmp_path / "models" / "net" / "w").read_text() == "new"
    assert list(staging.iterdir()) == []


def test_writes_outside_a_stages_outputs_are_not_deferred(tmp_path):
    with transaction.stage_transaction([tmp_path / "models"], tmp_path / "staging"):
        write_json(tmp_path / "state" / "progress.json", {"epoch": 3})
        assert (tmp_path / "state" / "progress.json").is_file()  # resume state: written now
        write_json(tmp_path / "models" / "m.json", {})
        assert not (tmp_path / "models" / "m.json").exists()  # an output: at the end
    assert (tmp_path / "models" / "m.json").is_file()


@pytest.mark.parametrize("staged", [False, True])
def test_outputs_get_the_mode_the_umask_gives_not_the_private_temp_files_mode(tmp_path, staged):
    old = os.umask(0o027)
    try:
        with (
            transaction.stage_transaction([tmp_path / "out"], tmp_path / "staging")
            if staged
            else contextlib.nullcontext()
        ):
            write_json(tmp_path / "out" / "page.json", {})
            with atomic_dir(tmp_path / "out" / "plots") as folder:
                (folder / "a.csv").write_text("x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "out" / "page.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "out" / "plots").stat().st_mode & 0o777 == 0o750


def contents(repo: Path) -> dict[str, object]:
    """Every output file → its bytes' SHA-256, or for JSON its content without the volatile
    fields (manifests and metrics record wall-clock seconds and the commit)."""
    found: dict[str, object] = {}
    for name, digest in snapshot(repo).items():
        path = repo / name
        if name.endswith(".json"):
            found[name] = without_volatile(json.loads(path.read_text()))
        elif name.endswith(".html"):  # the page: its figures (it names the commit and seconds)
            found[name] = headline_figures(path.read_text())
        else:
            found[name] = digest
    return found


@pytest.mark.slow
def test_a_sigkilled_dvc_repro_is_finished_by_a_rerun_with_the_same_outputs(
    reproduced_repo, tmp_path
):
    """SIGKILL `dvc repro --force` and its stage (the whole process group, as a crash would) at
    a random moment, then `gantl recover` and rerun: dvc status is clean and every output
    equals the uninterrupted run's. benchmarks/kill_loop.py does this 20 times."""
    import random
    import signal
    import subprocess
    import sys
    import time

    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--force", "--no-run-cache"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(random.Random(13).uniform(4.0, 20.0))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run(["gantl", "recover"], repo)  # what a crash may leave (DVC's own files caught mid-write)
    run(["dvc", "repro", "--no-run-cache"], repo)
    assert "up to date" in run(["dvc", "status"], repo).stdout
    assert contents(repo) == contents(reproduced_repo)
    assert not [p for p in repo.rglob("*.tmp") if ".dvc" not in p.parts]


def test_a_dvc_killed_while_rewriting_its_rwlock_is_recovered_by_gantl_recover(
    reproduced_repo, tmp_path
):
    """DVC rewrites .dvc/tmp/rwlock in place: a kill in between leaves it empty, and every
    `dvc repro` fails until it goes. `gantl recover` sets it aside (and `gantl run` does too)."""
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    (repo / ".dvc" / "tmp").mkdir(parents=True, exist_ok=True)
    (repo / ".dvc" / "tmp" / "rwlock").write_text("")
    stuck = run(["dvc", "repro"], repo, check=False)
    assert stuck.returncode != 0 and "rwlock" in stuck.stdout + stuck.stderr
    said = run(["gantl", "recover"], repo).stdout
    assert "set aside DVC's unreadable .dvc/tmp/rwlock as .dvc/tmp/rwlock.corrupt-" in said
    assert list((repo / ".dvc" / "tmp").glob("rwlock.corrupt-*"))
    assert "up to date" in run(["dvc", "status"], repo).stdout
    run(["dvc", "repro"], repo)
    assert run(["gantl", "recover"], repo).stdout.strip() == "nothing to recover"


def test_a_dvc_lock_cut_short_by_a_kill_is_recovered_by_gantl_recover(reproduced_repo, tmp_path):
    """DVC rewrites dvc.lock in place too; a kill mid-write leaves YAML DVC refuses."""
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    lock = (repo / "dvc.lock").read_text()
    cut = lock.index("cmd: ", len(lock) // 2) + len("cmd: ")
    (repo / "dvc.lock").write_text(lock[:cut])  # the write stopped in the middle of a stage
    stuck = run(["dvc", "status"], repo, check=False)
    assert stuck.returncode != 0 and "dvc.lock" in stuck.stdout + stuck.stderr
    said = run(["gantl", "recover"], repo).stdout
    assert "set aside the unreadable dvc.lock as dvc.lock.corrupt-" in said
    assert "none committed: DVC reruns" in said
    run(["dvc", "repro"], repo)  # from DVC's run cache: the outputs are the same
    assert "up to date" in run(["dvc", "status"], repo).stdout
    assert contents(repo) == contents(reproduced_repo)


def test_an_rwlock_dvc_is_editing_is_left_alone(tmp_path):
    import fcntl

    from tasks.dvc_repair import set_aside_corrupt_rwlock

    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    (tmp_path / ".dvc" / "tmp" / "rwlock").write_text("{")
    with open(tmp_path / ".dvc" / "tmp" / "rwlock.lock", "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # as DVC holds it around an edit
        assert set_aside_corrupt_rwlock(tmp_path) is None
    assert set_aside_corrupt_rwlock(tmp_path).name.startswith("rwlock.corrupt-")
    (tmp_path / ".dvc" / "tmp" / "rwlock").write_text('{"read": {}, "write": {}}')
    assert set_aside_corrupt_rwlock(tmp_path) is None  # a readable one is DVC's business


# --- a corrupt resume state is set aside ---------------------------------------------------------


def test_a_truncated_resume_state_is_set_aside_and_training_starts_afresh(tmp_path, caplog):
    torch.manual_seed(0)
    net = nn.Linear(4, 2)
    opt = torch.optim.Adam(net.parameters())
    gen = torch.Generator().manual_seed(0)
    kwargs = {"modules": {"net": net}, "optimizers": {"opt": opt}, "generator": gen}
    state = tmp_path / "state" / "cyclegan"
    save_state(state, fingerprint="f", epoch=2, history=[], **kwargs)
    data = (state / "state.safetensors").read_bytes()
    (state / "state.safetensors").write_bytes(data[: len(data) // 3])
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    with caplog.at_level(logging.WARNING, logger="gantl"):
        assert load_state(state, fingerprint="f", **kwargs) is None
    assert not state.exists()
    (aside,) = (tmp_path / "state").glob("cyclegan.corrupt-*")
    assert (aside / "state.safetensors").stat().st_size == len(data) // 3  # kept, not deleted
    assert all(torch.equal(net.state_dict()[k], v) for k, v in weights.items())
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "unreadable resume state" in warning and "\n" not in warning
