"""Kill `dvc repro` at random moments; after each kill a plain rerun must finish the job.

A pipeline copy on configs/tiny.yaml is first reproduced without interruption (the
reference). Then, `--kills` times: `dvc repro --force` starts every stage afresh, and its whole
process group (DVC and the `gantl stage` it runs) is SIGKILLed at a random moment of a run's
length; a plain `dvc repro` follows (without DVC's run cache, so what died runs again rather
than being restored) and must succeed. When the kill caught DVC rewriting its own
`.dvc/tmp/rwlock` or `dvc.lock` (DVC then refuses to run), `gantl recover` is run and the rerun
repeated, as a user would, and the round is counted. At the end `dvc status` must be clean and
every output must equal the reference's: weights, Parquet files and plots byte for byte, JSON
files (manifests, metrics, reports) with their wall-clock and commit fields left out.

    .venv/bin/python benchmarks/kill_loop.py --kills 20 --out benchmarks/results/kill-loop.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from gantl.reporting.page import headline_figures

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("gantl", "flows", "tasks", "dvc.yaml", ".dvc/config", ".dvc/plots", ".dvcignore")
OUTPUTS = ("data", "models", "metrics", "reports", "plots")
VOLATILE = {"seconds", "wall_time_s", "git_commit"}  # when and from which commit, not what


def pipeline_copy(dest: Path, params: Path) -> Path:
    """A git repo holding the pipeline with `params` as params.yaml, committed."""
    for name in COPIED:
        src, target = ROOT / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    shutil.copy2(params, dest / "params.yaml")
    (dest / ".gitignore").write_text("/data\n/models\n/.gantl\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "pipeline"]):
        subprocess.run(
            ["git", "-c", "user.name=k", "-c", "user.email=k@k", *args], cwd=dest, check=True
        )
    return dest


def _without_volatile(node: object) -> object:
    if isinstance(node, dict):
        return {k: _without_volatile(v) for k, v in node.items() if k not in VOLATILE}
    if isinstance(node, list):
        return [_without_volatile(v) for v in node]
    return node


def snapshot(repo: Path) -> dict[str, str]:
    """Every output file → a digest of what it says (JSON without its volatile fields)."""
    digests = {}
    for top in OUTPUTS:
        for path in sorted((repo / top).rglob("*")):
            if not path.is_file():
                continue
            data = path.read_bytes()
            if path.suffix == ".json":
                data = json.dumps(_without_volatile(json.loads(data)), sort_keys=True).encode()
            elif path.suffix == ".html":  # the page names the commit and seconds: its figures
                data = json.dumps(headline_figures(data.decode())).encode()
            digests[path.relative_to(repo).as_posix()] = hashlib.sha256(data).hexdigest()
    return digests


def environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(
        OMP_NUM_THREADS="1",
        GANTL_QUIET="1",
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(work / "dvc-site-cache"),
        TMPDIR=str(work / "tmp"),
    )
    (work / "tmp").mkdir(exist_ok=True)
    return env


def dvc(args: list[str], repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True, text=True
    )


def killed_run(repo: Path, env: dict[str, str], after: float) -> tuple[float | None, str]:
    """`dvc repro --force`, its process group SIGKILLed `after` seconds in; (the run's seconds
    when it finished first, else None; the last stage it started)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--force", "--no-run-cache"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=after)
        finished: float | None = time.perf_counter() - start
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        finished = None
    assert proc.stdout is not None
    stages = [ln for ln in proc.stdout.read().splitlines() if ln.startswith("Running stage")]
    return finished, stages[-1].removeprefix("Running stage ").strip("':") if stages else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--params", type=Path, default=ROOT / "configs" / "tiny.yaml")
    parser.add_argument("--out", type=Path, default=None, help="Write the record as JSON here.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch repos.")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="gantl-kill-loop-"))
    env = environment(work)
    try:
        reference = pipeline_copy(work / "reference", args.params)
        start = time.perf_counter()
        done = dvc(["repro"], reference, env)
        length = reference_s = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
        expected = snapshot(reference)
        print(f"uninterrupted run: {length:.0f} s, {len(expected)} output files", flush=True)
        repo = pipeline_copy(work / "killed", args.params)
        if dvc(["repro"], repo, env).returncode != 0:
            return 1
        rounds = []
        while sum(r["killed"] for r in rounds) < args.kills:
            after = rng.uniform(0.5, length)
            finished, stage = killed_run(repo, env, after)
            killed = finished is None
            if not killed:  # a forced run is shorter than the first: kill within its length
                length = finished
            rerun = dvc(["repro", "--no-run-cache"], repo, env)  # rerun what died, for real
            recovered = []
            if rerun.returncode != 0:
                # DVC killed while rewriting .dvc/tmp/rwlock or dvc.lock: what `gantl recover`
                # is for (a user reruns, reads DVC's error, runs it)
                fix = subprocess.run(
                    ["gantl", "recover"], cwd=repo, env=env, capture_output=True, text=True
                )
                recovered = fix.stdout.strip().splitlines()
                rerun = dvc(["repro", "--no-run-cache"], repo, env)
            same = rerun.returncode == 0 and snapshot(repo) == expected
            rounds.append(
                {
                    "kill_at_s": round(after, 2),
                    "killed": killed,
                    "in": stage,
                    "gantl_recover": recovered,
                    "ok": same,
                }
            )
            what = f"kill at {after:5.1f} s in {stage}" if killed else "finished before its kill"
            note = " (after gantl recover)" if recovered else ""
            print(f"{what:48s} rerun {'ok' if same else 'FAILED'}{note}", flush=True)
            if not same:
                print(rerun.stdout[-3000:], rerun.stderr[-3000:], file=sys.stderr)
                break
        status = dvc(["status", "--json"], repo, env)
        clean = status.returncode == 0 and json.loads(status.stdout or "{}") == {}
        stray = sorted(
            p.relative_to(repo).as_posix()
            for top in OUTPUTS
            for p in (repo / top).rglob("*")
            if p.name.endswith((".tmp", ".old"))
        )
        record = {
            "kills": sum(r["killed"] for r in rounds),
            "reruns_after_gantl_recover": sum(bool(r["gantl_recover"]) for r in rounds),
            "all_reruns_equal_reference": all(r["ok"] for r in rounds),
            "dvc_status_clean": clean,
            "stray_temp_files": stray,
            "uninterrupted_s": round(reference_s, 1),
            "output_files": len(expected),
            "killed_in": dict(Counter(r["in"] for r in rounds if r["killed"]).most_common()),
            "rounds": rounds,
        }
        verdict = record["all_reruns_equal_reference"] and clean and not stray
        print(
            f"{record['kills']} kills; reruns equal the reference: "
            f"{record['all_reruns_equal_reference']}; dvc status clean: {clean}; "
            f"stray temp files: {len(stray)}"
        )
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(record, indent=2) + "\n")
        return 0 if verdict else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
