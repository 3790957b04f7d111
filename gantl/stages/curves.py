"""Per-epoch training curves through dvclive: one directory per stage and model, so that
`dvc plots show` draws them, `dvc exp show` carries their last values and `dvc plots diff`
compares two experiments.

The layout is dvclive's: `plots/live/<stage>/<model>/metrics.json` (each seed's last values and
the epoch it kept) and `plots/metrics/seed<k>/<metric>.tsv`, one row per epoch. A figure that
reads target labels (the upper bound's target-val accuracy, the traced test accuracy, a
translator's FID and label preservation on the oracle's features) sits under
`seed<k>/target_labels/`: a diagnostic, never what chose a checkpoint. The checkpoint manifest
keeps the same history; these files are its view for DVC.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from gantl.io import atomic_dir
from gantl.stages.paths import LIVE

# the upper bound's and the traced test accuracy (gantl.training.selection), and a translator's
# figures on the oracle's features (gantl.eval.gan_metrics)
USES_TARGET_LABELS = frozenset(
    {"target_val_acc", "target_test_acc", "fid", "kid", "label_preservation"}
)
NOT_CURVES = frozenset({"epoch", "seconds"})
LABELS_DIR = "target_labels"


def live_dir(models: Path, stage: str, model: str) -> Path:
    """Where a stage's curves for one model go: plots/live/<stage>/<model> of the repo whose
    models/ folder is `models` (a stage is given its models root, not the repo root)."""
    return Path(models).parent / LIVE / stage / model


def write_manifest_curves(directory: Path, records: dict[int, dict]) -> None:
    """`write_curves` of the histories (and kept epochs) in a stage's per-seed manifests."""
    histories = {seed: r["metrics"].get("history", []) for seed, r in records.items()}
    kept = {seed: r["metrics"]["best_epoch"] for seed, r in records.items()}
    write_curves(directory, histories, kept)


def metric_name(seed: int, key: str) -> str:
    """dvclive's name for one seed's curve; the label-reading ones in their own folder."""
    return f"seed{seed}/{LABELS_DIR}/{key}" if key in USES_TARGET_LABELS else f"seed{seed}/{key}"


def write_curves(
    directory: Path, histories: dict[int, list[dict]], kept: dict[int, int] | None = None
) -> None:
    """Log each seed's per-epoch history (records with an `epoch`) through dvclive.Live into
    `directory`, replacing what was there; `kept` is the epoch each seed's checkpoint is from.
    Only finite numbers are curves: flags, names and epochs between validations are skipped."""
    from dvclive import Live  # imports DVC: only when a stage writes curves

    logging.getLogger("dvclive").setLevel(logging.WARNING)
    with atomic_dir(directory) as tmp:
        live = Live(str(tmp), save_dvc_exp=False, dvcyaml=None, report=None)
        for seed, history in histories.items():
            for record in history:
                live.step = int(record["epoch"])
                for key, value in record.items():
                    if key not in NOT_CURVES and _is_number(value):
                        live.log_metric(metric_name(seed, key), float(value), plot=True)
            if kept is not None and seed in kept:
                live.summary.setdefault(f"seed{seed}", {})["kept_epoch"] = kept[seed]
        live.end()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
