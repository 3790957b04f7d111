"""The retraining flow: new target data → pipeline through DVC → champion decision.

Run on a schedule (`gantl schedule --cron …`) it does nothing costly when the watched target
data is unchanged, and otherwise rebuilds what the change makes stale, scores the recommended
model against the champion with the label-free validator (never target test labels), promotes
it only if it scores better, and records the decision in models/champion/registry.jsonl and as
a Prefect artifact. It holds the repository's run lock (.gantl/run.lock) throughout.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from prefect import flow, get_run_logger

from flows.guard import run_lock
from flows.pipeline import pipeline
from gantl import champion
from gantl.config import load_params
from tasks.champion import decide_and_promote, detect_new_target_data, record_decision


@flow(name="gantl-retrain")
def retrain(
    root: str = ".",
    watch: str | None = None,
    force: bool = False,
    min_improvement: float = 0.0,
) -> dict:
    """Retrain when the target data changed (or `force`); promote a better model.

    root: the repository; watch: a drop folder (or file) whose content defines the target data
    (default: the target domain's raw files); min_improvement: how much higher the candidate's
    validator score must be.
    """
    logger = get_run_logger()
    root = str(Path(root).resolve())
    with run_lock(root), contextlib.chdir(root):  # params.yaml's paths resolve from the repo
        params = load_params(Path("params.yaml"))
        data_hash, changed = detect_new_target_data(params, root, watch)
        if not (changed or force) and champion.load_champion(Path(root)) is not None:
            decision = champion.unchanged(params, Path(root), data_hash)
        else:
            logger.info("target data changed: rebuilding" if changed else "forced retrain")
            # raw inputs are outside DVC's view (data_dir, bundled packages): force prepare,
            # and DVC reruns whatever its new outputs make stale
            summary = pipeline(root=root, force_stages=["prepare"] if changed else [])
            decision = decide_and_promote(params, root, summary, data_hash, min_improvement)
        record_decision(root, decision)
    return decision


if __name__ == "__main__":
    retrain()
