"""Test settings: quiet output, Prefect and DVC state inside dirs the tests own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from flows.env import workspace_env

ROOT = Path(__file__).resolve().parents[1]
_STATE = ROOT / ".prefect" / "test"
os.environ["GANTL_QUIET"] = "1"
workspace_env(_STATE)
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.setdefault("DVC_SITE_CACHE_DIR", str(_STATE / "dvc-site-cache"))
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

SHARED_DATA = Path(os.environ.get("GANTL_SHARED_DATA", ROOT.parent / "shared" / "data"))
# Everything a pipeline copy needs to run its stages (code deps of dvc.yaml and the DVC config).
REPO_FILES = (
    "gantl",
    "flows",
    "tasks",
    "dvc.yaml",
    "params.yaml",
    ".dvc/config",
    ".dvc/plots",  # the project's own plot templates (embedding)
    ".dvcignore",
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: the real MNIST t10k and USPS files."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present: real-data tests need ../shared/data")
    return SHARED_DATA


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the whole session (Prefect's testing recipe)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


def run(
    cmd: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command with this interpreter's scripts (gantl, dvc) first on PATH."""
    env = dict(os.environ if env is None else env)
    env.setdefault("OMP_NUM_THREADS", "1")  # tiny models: one thread is faster, and deterministic
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def make_pipeline_copy(dest: Path, params: str) -> Path:
    """A git repo holding this project's pipeline with `params` as params.yaml, committed."""
    for name in REPO_FILES:
        src = ROOT / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    (dest / "params.yaml").write_text(params)
    (dest / ".gitignore").write_text("/data\n/models\n")
    run(["git", "init", "-q"], dest)
    run(["git", "add", "-A"], dest)
    run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pipeline"],
        dest,
    )
    return dest


@pytest.fixture(scope="session")
def reproduced_repo(tmp_path_factory) -> Path:
    """A pipeline copy on TINY_PARAMS after one `dvc repro`, shared read-only by the session.

    Tests that change files take their own copy with `copy_repo`.
    """
    repo = make_pipeline_copy(tmp_path_factory.mktemp("reproduced"), TINY_PARAMS)
    run(["dvc", "repro", "--quiet"], repo)
    return repo


def copy_repo(repo: Path, dest: Path) -> Path:
    """A full copy of a pipeline repo: git history, DVC cache, outputs and all."""
    shutil.copytree(repo, dest, symlinks=True)
    return dest


TINY_PARAMS = (ROOT / "configs" / "tiny.yaml").read_text()  # every stage, about a minute


def two_domains(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A: bright squares on dark; B: the same squares, inverted. Both 1×16×16 in [−1, 1]."""
    g = torch.Generator().manual_seed(0)
    x = torch.full((n, 1, 16, 16), -1.0)
    for i, (r, c) in enumerate(torch.randint(2, 10, (n, 2), generator=g).tolist()):
        x[i, 0, r : r + 5, c : c + 5] = 1.0
    return x, -x.flip(0)


@pytest.fixture(scope="session")
def mnist_usps(shared_data):
    """A small real MNIST → USPS subset at 28×28: source model, adaptation data, target test."""
    from gantl.config import TrainConfig
    from gantl.data.prepare import convert_images
    from gantl.data.specs import load_domain
    from gantl.methods.source_only import train_classifier
    from gantl.models.classifier import Architecture
    from gantl.training.data import AdaptationData

    def tensors(split, n, offset=0):
        x = convert_images(split.images[offset : offset + n], 28, 1)
        x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1
        return x, torch.from_numpy(split.labels[offset : offset + n])

    mnist = load_domain("mnist:mnist", shared_data).splits["test"]
    usps = load_domain("usps:usps/usps.h5", shared_data).splits
    (x_s, y_s), (x_sv, y_sv) = tensors(mnist, 1500), tensors(mnist, 300, 1500)
    (x_t, _), (x_tv, y_tv) = tensors(usps["train"], 1500), tensors(usps["train"], 300, 1500)
    test = tensors(usps["test"], 2007)
    cfg = TrainConfig(epochs=5, batch_size=64, lr=1e-3, device="cpu")
    source = train_classifier(Architecture("lenet", 1, 28, 10), (x_s, y_s), (x_sv, y_sv), cfg).model
    return source, AdaptationData(x_s, y_s, x_t, x_sv, y_sv, x_tv, y_tv), test
