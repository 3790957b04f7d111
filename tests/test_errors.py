"""One-line errors: user text printed as is, OSErrors and PIL's bomb check without a traceback,
--debug for the traceback, and `lineage --verify` failing on raw files it cannot find."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from flows import cli as flows_cli
from gantl import cli
from tests.conftest import ROOT

GANTL = Path(sys.executable).parent / "gantl"
runner = CliRunner()


def _gantl(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "GANTL_DEBUG"} | env
    return subprocess.run(
        [str(GANTL), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )


def _main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The console entry point in process: (exit status, stdout, stderr)."""
    monkeypatch.delenv("GANTL_DEBUG", raising=False)
    monkeypatch.setitem(cli._state, "debug", False)  # --debug must not outlive the test
    monkeypatch.setattr(sys, "argv", ["gantl", *args])
    with pytest.raises(SystemExit) as exited:
        flows_cli.main()
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def _boom(exc: BaseException):
    def raise_it(*args, **kwargs):
        raise exc

    return raise_it


def test_markup_and_emoji_in_a_message_print_verbatim_on_one_line(tmp_path):
    proc = _gantl("stage", "prepare", "--params", "no[/x]:train:[bold].yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "error: no[/x]:train:[bold].yaml: params file not found\n"
    assert proc.stdout == ""
    proc = _gantl("data", "show", "usps:a[/x]:train:.h5", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"error: {tmp_path / 'a[/x]:train:.h5'}: ")


def test_data_show_prints_class_names_and_notes_as_they_are(tmp_path):
    for k, name in enumerate(("[bold]zero", ":train:", "x[i]")):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i, size in enumerate((8, 10)):  # two sizes: a "resized" note names the folder
            pixels = np.full((size, size), 40 * k + i, dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / name / f"{i}.png")
    (tmp_path / "imgs").rename(tmp_path / "[red]imgs")
    args = ["data", "show", "folder:[red]imgs", "--data-dir", str(tmp_path)]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    for text in ("[bold]zero", ":train:", "x[i]", "(folder:[red]imgs)", "note: [red]imgs: resized"):
        assert text in result.output


def test_an_oserror_is_one_line_naming_the_file_and_the_reason(monkeypatch, capsys, tmp_path):
    path = "models/x/model.safetensors"
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    monkeypatch.setattr("gantl.profiles.apply_profile_file", _boom(full))
    code, out, err = _main(monkeypatch, capsys, "profile", "paper", "--params", "p.yaml")
    assert code == 2 and out == ""
    assert err == f"error: {path}: No space left on device (errno 28: free space, then rerun)\n"

    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), "data/[/x]")
    monkeypatch.setattr("gantl.profiles.apply_profile_file", _boom(denied))
    code, _, err = _main(monkeypatch, capsys, "profile", "paper")
    assert code == 2
    assert err == "error: data/[/x]: Permission denied (errno 13: check the permissions)\n"

    renamed = OSError(errno.EXDEV, os.strerror(errno.EXDEV), "a.tmp", None, "b")
    monkeypatch.setattr("gantl.profiles.apply_profile_file", _boom(renamed))
    code, _, err = _main(monkeypatch, capsys, "profile", "paper")
    assert code == 2 and err == f"error: a.tmp → b: {os.strerror(errno.EXDEV)} (errno 18)\n"


def test_debug_shows_the_traceback(monkeypatch, capsys, tmp_path):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "m.safetensors")
    monkeypatch.setattr("gantl.profiles.apply_profile_file", _boom(full))
    code, _, err = _main(monkeypatch, capsys, "--debug", "profile", "paper")
    assert code == 2 and "Traceback (most recent call last)" in err and "raise_it" in err
    assert err.splitlines()[-1] == (
        "error: m.safetensors: No space left on device (errno 28: free space, then rerun)"
    )
    # a GantlError that the command catches itself, in a real `gantl` process
    proc = _gantl("stage", "prepare", "--params", "nope.yaml", cwd=tmp_path, GANTL_DEBUG="1")
    assert proc.returncode == 2 and "Traceback" in proc.stderr and "ConfigError" in proc.stderr
    assert proc.stderr.splitlines()[-1] == "error: nope.yaml: params file not found"
    proc = _gantl("--debug", "stage", "prepare", "--params", "nope.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" in proc.stderr
    proc = _gantl("stage", "prepare", "--params", "nope.yaml", cwd=tmp_path)
    assert proc.stderr == "error: nope.yaml: params file not found\n"


def test_a_decompression_bomb_is_one_line(tmp_path):
    for k in range(2):
        (tmp_path / "imgs" / str(k)).mkdir(parents=True)
        Image.new("L", (16, 16), 100 * k).save(tmp_path / "imgs" / str(k) / "a.png")
    script = (
        "import sys; from PIL import Image; Image.MAX_IMAGE_PIXELS = 10; "
        "from flows.cli import main; sys.argv = ['gantl', 'data', 'show', 'folder:imgs']; main()"
    )
    env = {k: v for k, v in os.environ.items() if k != "GANTL_DEBUG"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("error: ") and "decompression bomb" in line.lower()


def test_click_exits_and_ctrl_c_are_kept(monkeypatch, capsys):
    code, _, err = _main(monkeypatch, capsys, "stage", "nosuch")
    assert code == 2 and "Usage: gantl stage" in err and "nosuch" in err
    code, out, _ = _main(monkeypatch, capsys, "--help")
    assert code == 0 and "--debug" in out and "lineage" in out
    monkeypatch.setattr("gantl.profiles.apply_profile_file", _boom(KeyboardInterrupt()))
    code, _, err = _main(monkeypatch, capsys, "profile", "paper")
    assert code == 130 and err == "error: interrupted\n"
    monkeypatch.setattr("gantl.profiles.apply_profile_file", _boom(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):  # not a user error: its traceback shows
        _main(monkeypatch, capsys, "profile", "paper")


def test_describe_oserrors_without_a_file():
    assert cli.describe(OSError("plain")) == "plain"
    assert cli.describe(OSError(errno.EIO, "Input/output error")) == (
        "Input/output error (errno 5: the disk reported an I/O error)"
    )
    import gzip

    assert cli.describe(gzip.BadGzipFile("Not a gzipped file")) == (
        "BadGzipFile: Not a gzipped file"
    )


@pytest.mark.slow
def test_verify_fails_on_missing_raw_files_unless_allowed(reproduced_repo, tmp_path, monkeypatch):
    artifact = "models/adda/seed_0/selected/model.safetensors"
    monkeypatch.delenv("GANTL_DATA_DIR", raising=False)
    monkeypatch.setattr("gantl.lineage.raw.site_packages", lambda: tmp_path / "site")
    args = ["lineage", artifact, "--verify", "--root", str(reproduced_repo)]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 1, result.output
    assert "verified" not in result.output
    missing = [
        line.strip()
        for line in result.output.splitlines()
        if line.strip().startswith("sklearn/datasets/data/digits.csv.gz: missing")
    ]
    assert missing and "raw source file of bundled:uci-digits" in missing[0]
    assert "--allow-missing-raw" in missing[0]

    result = runner.invoke(cli.app, [*args, "--allow-missing-raw"])
    assert result.exit_code == 0, result.output
    assert "note: raw source files (bundled:uci-digits): not verified (--allow-missing-raw)" in (
        result.output
    )
    assert "skipped (raw files missing" in result.output
