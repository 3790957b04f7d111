"""The end-to-end pipeline flow: every dvc.yaml stage, in dependency order, through DVC.

The stage graph comes from dvc.yaml (via DVC's own index), so adding a stage there adds it
here. Independent stages (pretrain and oracle) run concurrently; each one only runs when DVC
says it is stale, and is recorded in dvc.lock, so `dvc repro` afterwards has nothing to do.

Before any stage starts, params.yaml is validated and every stage command checked (`preflight`),
and the repository's run lock is held (one pipeline run at a time, `.gantl/run.lock`).
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger

from flows.guard import run_lock
from gantl.stages.paths import METRICS, PLOTS, REPORT_PAGE
from tasks.dvc_stage import bring_stage_up_to_date, preflight, threads_per_stage
from tasks.publish import publish_report_page, publish_summary, publish_translation


@flow(name="gantl-pipeline")
def pipeline(root: str = ".", force: bool = False, force_stages: list[str] | None = None) -> dict:
    """Bring every stage up to date; publish the evaluation summary, translation grid and a
    link to the report page.

    `force` reruns every stage; `force_stages` only those named (and, through DVC, whatever
    their new outputs make stale) — the retrain flow forces `prepare` when raw data changed.
    """
    logger = get_run_logger()
    with run_lock(root):
        stages = preflight(root)
        logger.info("stages: %s", " → ".join(s.name for s in stages))
        threads = threads_per_stage(stages)
        futures = {}
        for stage in stages:  # topological order: upstream futures exist before they are awaited
            futures[stage.name] = bring_stage_up_to_date.submit(
                stage,
                root,
                force or stage.name in (force_stages or []),
                threads[stage.name],
                wait_for=[futures[u] for u in stage.upstream],
            )
        for future in futures.values():  # the lock is held until no stage runs any more
            future.wait()
        ran = [f.result() for f in futures.values()]  # raises the first failure, in order
    logger.info("ran: %s", [r["stage"] for r in ran if r["ran"]] or "nothing (all up to date)")
    summary = json.loads((Path(root) / METRICS / "summary.json").read_text())
    publish_summary(summary)
    if (Path(root) / REPORT_PAGE).is_file():
        publish_report_page(Path(root) / REPORT_PAGE)
    translate_metrics = Path(root) / METRICS / "translate.json"
    if translate_metrics.is_file():
        translate = json.loads(translate_metrics.read_text())
        curves = Path(root) / PLOTS / "translate" / translate["gan"]
        publish_translation(translate, curves.with_suffix(".png"), curves.with_suffix(".csv"))
    return summary


if __name__ == "__main__":
    pipeline()
