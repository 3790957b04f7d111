"""Where the stages read and write, relative to the pipeline repo (the paths of dvc.yaml)."""

from __future__ import annotations

from pathlib import Path

PREPARED = Path("data/prepared")
VALIDATED = Path("data/validated.json")  # the validate stage's marker: params.yaml passed
TRANSLATED = Path("data/translated")
MODELS = Path("models")
METRICS = Path("metrics")
PLOTS = Path("plots")
LIVE = PLOTS / "live"  # per-epoch curves through dvclive: live/<stage>/<model>/
REPORTS = Path("reports")
MODEL_REPORTS = REPORTS / "models"  # evaluate: one JSON per model (per seed, per class)
REPORT_PAGE = REPORTS / "index.html"  # the report stage: the page a person reads
STATE = Path(".gantl/state")  # resumable GAN training state (git- and DVC-ignored)
STAGING = Path(".gantl/staging")  # a running stage's outputs, swapped in together at its end
OUTPUTS = (VALIDATED, PREPARED, TRANSLATED, MODELS, METRICS, PLOTS, REPORTS)  # where stages write
ROLES = ("source", "target")
SPLITS = ("train", "val", "test")
BASELINES = {"source_only": "source", "oracle": "oracle"}  # model name → its models/ folder


def split_path(prepared: Path, role: str, split: str) -> Path:
    return Path(prepared) / role / f"{split}.parquet"


def seed_dir(root: Path, seed: int) -> Path:
    return Path(root) / f"seed_{seed}"


def checkpoint_dir(models: Path, name: str, seed: int) -> Path:
    """The checkpoint a model's report scores: the baselines' only one, the validator-selected
    one of an adapted model."""
    if name in BASELINES:
        return seed_dir(Path(models) / BASELINES[name], seed)
    return seed_dir(Path(models) / name, seed) / "selected"


def upper_bound_dir(models: Path, name: str, seed: int) -> Path | None:
    """The checkpoint target-val labels chose (an upper bound), where the model has one."""
    if name in BASELINES:
        return None
    bound = seed_dir(Path(models) / name, seed) / "upper_bound"
    return bound if bound.is_dir() else None
