"""Benchmarks: run a whole protocol over seeds and set the result beside the published tables.

`gantl bench digits --protocol mnist-usps-adda --seeds 0,1,2` runs the pipeline's stage
functions in a scratch directory (nothing in the repo's data/ or models/ is touched) and writes
one JSON and one markdown table. Published rows are quoted as printed in the papers; note that
TLlib selects checkpoints on target test labels, which our honest number never does.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from gantl import stages
from gantl.checkpoint import git_commit
from gantl.config import Params, params_from_dict, read_params_file
from gantl.errors import ConfigError
from gantl.io import atomic_path, write_json, write_text
from gantl.stages import parse_method
from gantl.translate import translate_stage

PROTOCOL_DIR = Path("configs")
# protocol → table → method → published target accuracy (%)
PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "mnist-usps-adda": {
        "ADDA paper (Tzeng et al. 2017)": {"source_only": 75.2, "dann": 77.1, "adda": 89.4},
        "CyCADA paper (Hoffman et al. 2018)": {
            "source_only": 82.2,
            "adda": 89.4,
            "cyclegan+adda": 95.6,
        },
        "TLlib (selects on target test labels)": {"dann": 91.7, "adda": 94.5},
    },
    "usps-mnist-adda": {
        "ADDA paper (Tzeng et al. 2017)": {"source_only": 57.1, "dann": 73.0, "adda": 90.1},
        "CyCADA paper (Hoffman et al. 2018)": {
            "source_only": 69.6,
            "adda": 90.1,
            "cyclegan+adda": 96.5,
        },
        "TLlib (selects on target test labels)": {"dann": 95.2, "adda": 98.3},
    },
    "mnist5k-mnistm": {
        "DANN paper (Ganin & Lempitsky 2015, full MNIST)": {"source_only": 52.25, "dann": 76.66},
    },
}


def protocol_params(
    protocol: str | None,
    source: str | None = None,
    target: str | None = None,
    profile: str | None = None,
    base: Path = Path("params.yaml"),
    protocol_dir: Path = PROTOCOL_DIR,
) -> Params:
    """The params of a named protocol (configs/<name>.yaml), or `base` with custom domains;
    `profile` replaces the file's profile before its overrides are applied."""
    if protocol is not None:
        path = Path(protocol_dir) / f"{protocol}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in Path(protocol_dir).glob("*.yaml"))
            raise ConfigError(f"unknown protocol {protocol!r}: no {path}; expected one of {known}")
    elif source and target:
        path = Path(base)
    else:
        raise ConfigError("bench: give --protocol, or both --source and --target")
    raw = read_params_file(path)
    if protocol is None:
        raw["experiment"] |= {"source": source, "target": target, "protocol": f"{source}→{target}"}
    if profile is not None:
        raw["profile"] = profile
    return params_from_dict(raw, str(path))


def run_bench(
    params: Params,
    methods: list[str],
    seeds: list[int],
    data_dir: Path | None = None,
    workdir: Path | None = None,
    grids: Path | None = None,
) -> dict[str, Any]:
    """Run prepare → pretrain → oracle → [translate] → adapt (each method) → evaluate, timing
    every stage. Methods "<gan>+<method>" (pixel + feature) train their translator once per gan;
    with `grids`, its image grid is kept as `<grids>-<gan>.png`.
    """
    unknown = []
    for method in methods:
        try:
            if method != "source_only":
                parse_method(method)
        except ConfigError:
            unknown.append(method)
    if unknown:
        raise ConfigError(
            f"bench: unknown method(s) {unknown}; expected source_only, dann, adda, or "
            "<gan>+<method> with gan cyclegan or stargan and method source_only, dann or adda"
        )
    exp = params.experiment.model_copy(
        update={"seeds": seeds, **({"data_dir": data_dir} if data_dir else {})}
    )
    adapted = [m for m in methods if m != "source_only"]
    adapt = params.adapt.model_copy(
        update={"methods": [m for m in adapted if "+" not in m], "pixel_methods": []}
    )
    params = params.model_copy(update={"experiment": exp, "adapt": adapt})
    gans = sorted({parse_method(m)[0] for m in adapted} - {None})
    translation: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gantl-bench-", dir=workdir) as tmp:
        root = Path(tmp)
        prepared, models = root / "data" / "prepared", root / "models"
        translated = root / "data" / "translated"
        seconds: dict[str, float] = {}

        def timed(name: str, fn, *args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            seconds[name] = round(time.perf_counter() - start, 2)
            return out

        timed("prepare", stages.prepare, params, prepared)
        timed("source_only", stages.pretrain, params, prepared, models / "source")
        timed("oracle", stages.oracle, params, prepared, models / "oracle")
        for gan in gans:
            gan_params = params.model_copy(
                update={"translate": params.translate.model_copy(update={"gan": gan})}
            )
            translation[gan] = timed(
                f"translate@{gan}", translate_stage, gan_params, prepared, models, translated,
                root / "metrics", root / "plots", root / "state",
            )  # fmt: skip
            if grids is not None:
                kept = Path(f"{grids}-{gan}.png")
                with atomic_path(kept) as tmp:
                    shutil.copyfile(root / "plots" / "translate" / f"{gan}.png", tmp)
                translation[gan]["grid"] = str(kept)
        for method in adapted:
            timed(method, stages.adapt, params, method, prepared, models, translated)
        summary = timed(
            "evaluate",
            stages.evaluate,
            params,
            prepared,
            models,
            root / "metrics",
            root / "plots",
            root / "reports",
            names=["source_only", "oracle", *adapted],
        )
    results = {}
    for name, r in summary["results"].items():
        results[name] = {
            "target_acc_mean": r["target_acc_mean"],
            "target_acc_std": r["target_acc_std"],
            "target_acc_per_seed": r["target_acc_per_seed"],
            "target_acc_upper_bound_mean": r.get("target_acc_upper_bound_mean"),
            "negative_transfer": r.get("negative_transfer", False),
            # adapted methods include the source pretraining (and translator) they start from
            "seconds": round(seconds[name] + _upstream_seconds(name, seconds), 2),
        }
    return {
        "protocol": summary["protocol"],
        "source": summary["source"],
        "target": summary["target"],
        "seeds": seeds,
        "profile": params.profile,
        "validator": summary["validator"],
        "recommended": summary["recommended"],
        "notes": summary["notes"],
        "warnings": summary["warnings"],
        "results": results,
        "translation": translation,
        "published": PUBLISHED.get(summary["protocol"], {}),
        "stage_seconds": seconds,
        "total_seconds": round(sum(seconds.values()), 2),
        "commit": git_commit(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
    }


def _upstream_seconds(name: str, seconds: dict[str, float]) -> float:
    if name in ("source_only", "oracle"):
        return 0.0
    gan, _ = parse_method(name)
    return seconds["source_only"] + (seconds[f"translate@{gan}"] if gan else 0.0)


def bench_markdown(record: dict[str, Any]) -> str:
    """Our rows (mean ± std over seeds) and the published rows, one column per method."""
    methods = list(record["results"])
    for table in record["published"].values():
        methods += [m for m in table if m not in methods]
    n = len(record["seeds"])
    lines = [
        f"# {record['protocol']}: {record['source']['domain']} → {record['target']['domain']}",
        "",
        f"Target test accuracy (%), {n} seed(s) {record['seeds']}, profile `{record['profile']}`, "
        f"checkpoints chosen by the label-free validator `{record['validator']}`; "
        f"commit `{record['commit']}`, {record['machine']['processor']}, "
        f"{record['total_seconds']:.0f} s in all.",
        "",
        "| | " + " | ".join(methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]

    def ours(m: str, key: str) -> str:
        r = record["results"].get(m)
        if r is None or r.get(key) is None:
            return ""
        std = f" ± {100 * r['target_acc_std']:.1f}" if key == "target_acc_mean" and n > 1 else ""
        return f"{100 * r[key]:.1f}{std}"

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


def write_bench(record: dict[str, Any], out: Path) -> Path:
    """`out` (JSON) and the markdown table beside it (same name, .md)."""
    write_json(out, record)
    markdown = Path(out).with_suffix(".md")
    write_text(markdown, bench_markdown(record))
    return markdown
