"""Prefect tasks: notice new target data, decide on the champion, publish the decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from gantl import champion
from gantl.config import Params


@task
def detect_new_target_data(params: Params, root: str, watch: str | None) -> tuple[str, bool]:
    """(content hash of the watched target data, whether it differs from the last decision's)."""
    now = champion.data_hash(params, Path(watch) if watch else None)
    before = champion.last_data_hash(Path(root))
    get_run_logger().info("target data %s (last decision: %s)", now[:12], (before or "none")[:12])
    return now, now != before


@task
def decide_and_promote(
    params: Params, root: str, summary: dict, data_hash: str, min_improvement: float = 0.0
) -> dict[str, Any]:
    """Score candidate and champion on the label-free validator; promote only if better."""
    decision = champion.decide(params, Path(root), summary, data_hash, min_improvement)
    if decision["promoted"]:
        champion.promote(Path(root), decision)
    return decision


@task
def record_decision(root: str, decision: dict[str, Any]) -> str:
    """Append the decision to the registry and attach it to the flow run as an artifact."""
    path = champion.append_decision(Path(root), decision)
    get_run_logger().info(
        "%s: %s", "promoted" if decision["promoted"] else "kept champion", decision["reason"]
    )
    create_markdown_artifact(key="gantl-champion", markdown=decision_markdown(decision))
    return str(path)


def decision_markdown(decision: dict[str, Any]) -> str:
    """The decision as the Prefect UI shows it."""
    verdict = "**promoted**" if decision["promoted"] else "champion kept"
    lines = [
        f"## Champion decision: {verdict}",
        "",
        f"{decision['reason']}",
        "",
        "| | model | seed | score now | checkpoint sha256 |",
        "|---|---|---|---|---|",
    ]
    new, old = decision["candidate"], decision["champion"]
    if new:
        lines.append(
            f"| candidate | {new['model']} | {new['seed']} | {new['score']:.4f} "
            f"| {new['weights_sha256'][:12]} |"
        )
    if old:
        lines.append(
            f"| champion | {old['method']} | {old['seed']} | {old['score_now']:.4f} "
            f"| {old['weights_sha256'][:12]} |"
        )
    lines += [
        "",
        f"Validator: {decision['validator']} (no target labels). Data hash "
        f"`{decision['data_hash'][:16]}`, commit `{decision['commit']}`, {decision['time']}.",
    ]
    return "\n".join(lines)
