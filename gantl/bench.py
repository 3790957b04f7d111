"""Benchmarks: run a whole protocol over seeds and set the result beside the published tables.

`gantl bench digits --protocol mnist-usps-adda --seeds 0,1,2` runs the pipeline's own stage
graph — dvc.yaml, the one definition of the pipeline order — with `dvc repro` in a scratch copy
(nothing in the repo's data/ or models/ is touched), times each stage, and writes one JSON and
one markdown table. Published rows are quoted as printed in the papers; note that TLlib selects
checkpoints on target test labels, which our honest number never does.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gantl.checkpoint import git_commit, load_manifest
from gantl.config import (
    ENSEMBLE,
    GANS,
    REFINED,
    STOCHASTIC_GANS,
    T2S,
    Params,
    params_from_dict,
    parse_method,
    read_params_file,
)
from gantl.errors import ConfigError, GantlError
from gantl.io import atomic_path, write_json, write_text
from gantl.profiles import apply_profile, load_profile
from gantl.progress import STAGE_TIMES_ENV, is_quiet
from gantl.published import PUBLISHED
from gantl.stages.paths import BASELINES, checkpoint_dir
from gantl.training.selection import TRACED_TEST

DVC_CONFIG = "[core]\n    no_scm = True\n    analytics = false\n    check_update = false\n"

PROTOCOL_DIR = Path("configs")


def protocol_params(
    protocol: str | None,
    source: str | None = None,
    target: str | None = None,
    profile: str | None = None,
    params_file: Path | None = None,
    base: Path = PROTOCOL_DIR / "custom.yaml",
    protocol_dir: Path = PROTOCOL_DIR,
) -> Params:
    """The params a bench runs: a named protocol (configs/<name>.yaml), a user's `params_file`,
    or `base`; `source`/`target` replace the domains of the last two, and `profile` (a name in
    configs/profiles/ or an overlay file) is applied over the result."""
    if protocol is not None and params_file is not None:
        raise ConfigError("bench: give --protocol or --params, not both")
    if protocol is not None:
        path = Path(protocol_dir) / f"{protocol}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in Path(protocol_dir).glob("*.yaml"))
            raise ConfigError(f"unknown protocol {protocol!r}: no {path}; expected one of {known}")
        if source or target:
            raise ConfigError(
                "bench: --source/--target replace the domains of --params, not of a protocol"
            )
    elif params_file is not None:
        path = Path(params_file)
    elif source and target:
        path = Path(base)
    else:
        raise ConfigError("bench: give --protocol, --params FILE, or both --source and --target")
    raw = read_params_file(path)
    if source or target:
        if not (source and target):
            raise ConfigError("bench: give both --source and --target")
        raw["experiment"] |= {"source": source, "target": target, "protocol": f"{source}→{target}"}
    if profile is not None:
        raw = apply_profile(raw, load_profile(profile))
    return params_from_dict(raw, str(path) + (f" + profile {profile}" if profile else ""))


def run_bench(
    params: Params,
    methods: list[str],
    seeds: list[int],
    data_dir: Path | None = None,
    workdir: Path | None = None,
    grids: Path | None = None,
    root: Path = Path("."),
    threads: int | None = None,
    keep_translator: Path | None = None,
) -> dict[str, Any]:
    """Run the stages `methods` need, every seed, through `root`'s dvc.yaml in a scratch copy.

    Methods "<gan>+<method>" (pixel + feature) train their translator (one gan per bench);
    with `grids`, its image grid is kept as `<grids>-<gan>.png`, and with `keep_translator`
    its models/<gan> folder is copied there. `threads` pins each stage's CPU threads (results
    depend on the thread count).
    """
    params, targets = bench_params(params, methods, seeds, data_dir)
    commit = git_commit()  # the code the scratch copy is made from, not what is there later
    with tempfile.TemporaryDirectory(prefix="gantl-bench-", dir=workdir) as tmp:
        scratch = Path(tmp)
        seconds = _reproduce(Path(root), scratch, params, targets, threads)
        summary = json.loads((scratch / "metrics" / "summary.json").read_text())
        checkpoints = checkpoint_traces(scratch / "models", summary["results"], seeds)
        translation = {}
        if params.adapt.pixel_methods:
            gan = params.translate.gan
            translation[gan] = json.loads((scratch / "metrics" / "translate.json").read_text())
            record = load_manifest(scratch / "models" / gan)  # every epoch's figures
            translation[gan]["history"] = record.get("metrics", {}).get("history", [])
            if grids is not None:
                kept = Path(f"{grids}-{gan}.png")
                with atomic_path(kept) as out:
                    shutil.copyfile(scratch / "plots" / "translate" / f"{gan}.png", out)
                translation[gan]["grid"] = str(kept)
            if keep_translator is not None:
                shutil.copytree(scratch / "models" / gan, keep_translator, dirs_exist_ok=True)
    results = _results(summary, seconds)
    return {
        "protocol": summary["protocol"],
        "params": params.model_dump(mode="json"),
        "source": summary["source"],
        "target": summary["target"],
        "seeds": seeds,
        "validator": summary["validator"],
        "recommended": summary["recommended"],
        "adaptation_failed": summary["adaptation_failed"],
        "notes": summary["notes"],
        "warnings": summary["warnings"],
        "results": results,
        "checkpoints": checkpoints,
        "translation": translation,
        "published": PUBLISHED.get(summary["protocol"], {}),
        "stage_seconds": seconds,
        "total_seconds": round(sum(seconds.values()), 2),
        "commit": commit,
        "machine": _machine(threads),
    }


def checkpoint_traces(
    models: Path, results: dict[str, Any], seeds: list[int]
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """model → seed → every scored checkpoint's validator scores and target-test accuracy
    (adapt.trace_test), read from the selected checkpoints' manifests."""
    traces: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name in results:
        for seed in seeds:
            directory = checkpoint_dir(models, name, seed)
            if name in BASELINES or not (directory / "manifest.json").is_file():
                continue
            history = load_manifest(directory)["metrics"].get("history", [])
            scored = [r for r in history if TRACED_TEST in r]
            if scored:
                traces.setdefault(name, {})[str(seed)] = scored
    return traces


def _results(summary: dict[str, Any], seconds: dict[str, float]) -> dict[str, Any]:
    """Per model: accuracies over seeds, the guard's flags, and seconds including the stages
    the model starts from."""
    return {
        name: {
            "target_acc_mean": r["target_acc_mean"],
            "target_acc_std": r["target_acc_std"],
            "target_acc_per_seed": r["target_acc_per_seed"],
            "target_acc_upper_bound_mean": r.get("target_acc_upper_bound_mean"),
            "negative_transfer": r.get("negative_transfer", False),
            "collapsed": r.get("collapsed", False),
            # agreement with the guard's reference (gantl.eval.guard), where it was checked
            "confident_agreement_mean": r.get("confident_agreement_mean"),
            "agreement_reference": r.get("agreement_reference"),  # per seed
            # adapted methods include the source pretraining (and translator) they start from
            "seconds": round(seconds.get(name, 0.0) + _upstream_seconds(name, seconds), 2),
        }
        for name, r in summary["results"].items()
    }


def bench_params(
    params: Params, methods: list[str], seeds: list[int], data_dir: Path | None = None
) -> tuple[Params, list[str]]:
    """`params` set to run just `methods` on `seeds`, and the DVC stages that make them.

    A method is a model name: source_only, dann, cyclegan+adda, …, or any of them (source for
    source-only) followed by +refine or +t2s (read through the translator's target → source
    generator), or an ensemble of such names joined by "&"; a refined, t2s or ensemble model
    brings the models it is made from. The methods' translator replaces `translate.gan`, with
    one translation per image (`copies: 1`) when it has no noise to draw more."""
    ensembles = [m for m in methods if ENSEMBLE in m]
    singles = [m for m in dict.fromkeys([*methods, *"&".join(ensembles).split("&")]) if m]
    singles = [m for m in singles if ENSEMBLE not in m]
    t2s = [m.removesuffix(T2S) for m in singles if m.endswith(T2S)]
    refined = [m.removesuffix(REFINED) for m in [*singles, *t2s] if m.endswith(REFINED)]
    wanted = [
        m for m in dict.fromkeys([*singles, *t2s, *refined]) if not m.endswith((REFINED, T2S))
    ]
    unknown = []
    for method in wanted:
        try:
            if method not in ("source_only", "source"):
                parse_method(method)
        except ConfigError:
            unknown.append(method)
    if unknown:
        raise ConfigError(
            f"bench: unknown method(s) {unknown}; expected source_only, dann, adda, cdan, or "
            f"<gan>+<method> with gan one of {', '.join(GANS)} and method source_only, dann, "
            "adda or cdan, each optionally followed by +refine or +t2s (source+refine, "
            "source+t2s for source-only), or such names joined by '&' (an ensemble)"
        )
    adapted = [parse_method(m) for m in wanted if m not in ("source_only", "source")]
    gans = sorted({gan for gan, _ in adapted if gan})
    if len(gans) > 1:
        raise ConfigError(f"bench: one translator per run, got {gans} (run one bench per gan)")
    raw = params.model_dump(mode="json")
    raw["experiment"]["seeds"] = seeds
    if data_dir is not None:
        raw["experiment"]["data_dir"] = str(Path(data_dir).resolve())
    raw["adapt"]["methods"] = [base for gan, base in adapted if not gan]
    raw["adapt"]["pixel_methods"] = [base for gan, base in adapted if gan]
    raw["refine"]["methods"] = refined
    raw["translate"]["t2s"] = t2s
    raw["evaluate"]["ensembles"] = [
        ENSEMBLE.join("source_only" if m == "source" else m for m in e.split(ENSEMBLE))
        for e in ensembles
    ]
    raw["adapt"]["trace_test"] = True  # every scored checkpoint's test accuracy: validators.md
    if gans:
        raw["translate"]["gan"] = gans[0]
        if gans[0] not in STOCHASTIC_GANS:  # the recipe's copies are its noise translator's
            raw["translate"]["copies"] = 1
    bench = params_from_dict(raw, "bench params")
    targets = ["pretrain", "oracle"]
    targets += [f"adapt@{m}" for m in bench.adapt.methods]
    targets += [f"adapt_pixel@{m}" for m in bench.adapt.pixel_methods]
    targets += [f"refine@{m}" for m in bench.refine.methods]
    targets += [f"t2s@{m}" for m in bench.translate.t2s]
    return bench, targets


def _reproduce(
    root: Path, scratch: Path, params: Params, targets: list[str], threads: int | None
) -> dict[str, float]:
    """`dvc repro` of `targets`, then of evaluate alone (which reads every model folder, so its
    full upstream would train a translator no method asked for); seconds per stage."""
    if not (root / "dvc.yaml").is_file():
        raise ConfigError(f"{root / 'dvc.yaml'}: bench needs the pipeline repo (--root)")
    shutil.copyfile(root / "dvc.yaml", scratch / "dvc.yaml")
    shutil.copytree(root / "gantl", scratch / "gantl", ignore=shutil.ignore_patterns("__pycache__"))
    (scratch / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json")))
    times = scratch / ".gantl" / "stage_times.jsonl"
    times.parent.mkdir()
    env = dict(os.environ, **{STAGE_TIMES_ENV: str(times)})
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    if is_quiet():
        env["GANTL_QUIET"] = "1"
    _dvc(["init", "--no-scm", "-q"], scratch, env)
    (scratch / ".dvc" / "config").write_text(DVC_CONFIG)
    _dvc(["repro", *targets], scratch, env)
    _dvc(["repro", "--single-item", "evaluate"], scratch, env)
    seconds: dict[str, float] = {}
    for line in times.read_text().splitlines():
        record = json.loads(line)
        stage, method = record["stage"], record["method"]
        key = {  # a stage's time under the name of what it makes
            "pretrain": "source_only",
            "translate": f"translate@{params.translate.gan}",
            "adapt": method,
            "refine": f"{method}{REFINED}",
            "t2s": f"{method}{T2S}",
        }.get(stage, stage)
        seconds[key] = record["seconds"]
    return seconds


def _dvc(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    """Run a DVC command (the CLI: the core imports no DVC). Its output streams through, or,
    when quiet, is shown only if it fails."""
    quiet = is_quiet()
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=quiet, text=True
    )
    if proc.returncode != 0:
        output = (proc.stdout or "") + (proc.stderr or "")
        tail = "\n".join(output.strip().splitlines()[-30:])
        raise GantlError(
            f"bench: dvc {' '.join(args)} failed in {cwd}" + (f":\n{tail}" if tail else "")
        )


def _made_by(name: str, seconds: dict[str, float]) -> set[str]:
    """The keys of `seconds` (stage times) behind a model: its own stage and every stage it
    starts from (source pretraining, translator, the model it refines or reads through the
    translator, an ensemble's members), each counted once."""
    if name in ("source_only", "oracle"):
        return {name}
    if ENSEMBLE in name:
        return set().union(*(_made_by(m, seconds) for m in name.split(ENSEMBLE)))
    for suffix in (REFINED, T2S):
        if name.endswith(suffix):
            start = name.removesuffix(suffix)
            start = "source_only" if start == "source" else start
            translators = (
                {k for k in seconds if k.startswith("translate@")} if suffix == T2S else set()
            )
            return {name} | translators | _made_by(start, seconds)
    gan, _ = parse_method(name)
    return {name, "source_only"} | ({f"translate@{gan}"} if gan else set())


def _upstream_seconds(name: str, seconds: dict[str, float]) -> float:
    """Seconds of the stages a model starts from (`_made_by` without its own stage)."""
    return sum(seconds[k] for k in _made_by(name, seconds) - {name})


def _machine(threads: int | None) -> dict[str, Any]:
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch_threads": threads or torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def bench_markdown(record: dict[str, Any]) -> str:
    """Our rows (mean ± std over seeds) and the published rows, one column per method."""
    methods = list(record["results"])
    for table in record["published"].values():
        methods += [m for m in table if m not in methods]
    n = len(record["seeds"])
    lines = [
        f"# {record['protocol']}: {record['source']['domain']} → {record['target']['domain']}",
        "",
        f"Target test accuracy (%), {n} seed(s) {record['seeds']}, "
        f"checkpoints chosen by the label-free validator `{record['validator']}`; "
        f"commit `{record['commit']}`, {record['machine']['processor']}, "
        f"{record['total_seconds']:.0f} s in all. ★: the model recommended without target labels "
        "(validator and collapse guard).",
        "",
        "| | " + " | ".join(methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]

    def ours(m: str, key: str) -> str:
        r = record["results"].get(m)
        if r is None or r.get(key) is None:
            return ""
        std = f" ± {100 * r['target_acc_std']:.1f}" if key == "target_acc_mean" and n > 1 else ""
        star = " ★" if key == "target_acc_mean" and m == record.get("recommended") else ""
        return f"{100 * r[key]:.1f}{std}{star}"

    lines.append(
        "| gantl (validator-selected) | "
        + " | ".join(ours(m, "target_acc_mean") for m in methods)
        + " |"
    )
    lines.append(
        "| gantl (target-label-selected: upper bound) | "
        + " | ".join(ours(m, "target_acc_upper_bound_mean") for m in methods)
        + " |"
    )
    for name, table in record["published"].items():
        lines.append(f"| {name} | " + " | ".join(str(table.get(m, "")) for m in methods) + " |")
    for gan, t in (record.get("translation") or {}).items():
        before = t["untranslated"]
        lines += [
            "",
            f"{gan}: FID {t['fid']:.1f} (untranslated source {before['fid']:.1f}), "
            f"label preservation {100 * t['label_preservation']:.1f}% "
            f"({100 * before['label_preservation']:.1f}% untranslated), judged on {t['judge']}.",
        ]
        if t.get("grid"):
            rows = "source | translated | reconstructed | real target"
            lines += ["", f"![{gan}: {rows}]({Path(t['grid']).name})"]
    lines += [
        "",
        *(f"- {w}" for w in record["warnings"]),
        *(f"- note: {x}" for x in record["notes"]),
    ]
    return "\n".join(lines) + "\n"


def write_bench(
    record: dict[str, Any], out: Path, to_markdown: Callable[[dict[str, Any]], str] = bench_markdown
) -> Path:
    """`out` (JSON) and its markdown table beside it (same name, .md)."""
    write_json(out, record)
    markdown = Path(out).with_suffix(".md")
    write_text(markdown, to_markdown(record))
    return markdown
