"""Which epoch does each label-free criterion keep, against the epoch that preserves labels best?

Trains each (protocol, translator) pair once through `gantl bench` (seed 0, `<gan>+source_only`,
the protocol's 10-minute budget), reads every epoch's figures from the translator's manifest,
and scores each candidate criterion by the label preservation it gives up: the oracle's label
preservation at the best epoch minus at the epoch the criterion keeps (the oracle read target
labels: it judges the criteria, it never chooses). Usage:

    .venv/bin/python benchmarks/translator_selection.py --threads 2 --data-dir ../shared/data \
        [--runs mnist-usps-adda:cyclegan,mnist5k-mnistm:stargan,…] \
        [--out benchmarks/results/translator-selection.json]
    .venv/bin/python benchmarks/translator_selection.py \
        --tables benchmarks/results/translator-selection.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from gantl.bench import protocol_params, run_bench
from gantl.checkpoint import git_commit
from gantl.eval.gan_metrics import label_free_score

RUNS = [
    "mnist5k-mnistm:stargan",
    "mnist5k-mnistm:pixelda",
    "mnist5k-mnistm:cyclegan",
    "mnist-usps-adda:pixelda",
    "mnist-usps-adda:cyclegan",
]


def _remaining(h: dict, before: dict, key: str) -> float:
    return h[key] / max(before[key], 1e-12)


# Each criterion: (epoch figures, untranslated figures) → score, higher is kept.
CRITERIA: dict[str, Callable[[dict, dict], float]] = {
    "label_free_score (gantl: agreement within 5 points, then domain-judge FID)": (
        label_free_score
    ),
    "agreement − source-classifier FID share (gantl before)": lambda h, b: (
        h["src_agreement"] - _remaining(h, b, "src_fid")
    ),
    "agreement − domain-judge FID share": lambda h, b: (
        h["src_agreement"] - _remaining(h, b, "dom_fid")
    ),
    "source-classifier FID": lambda h, b: -h["src_fid"],
    "domain-judge FID": lambda h, b: -h["dom_fid"],
    "agreement": lambda h, b: h["src_agreement"],
    "last epoch": lambda h, b: h["epoch"],
}


def picks(history: list[dict], before: dict) -> dict[str, dict]:
    """Per criterion: the epoch it keeps, that epoch's label preservation and oracle FID, and
    the label preservation given up against the best epoch."""
    best = max(h["label_preservation"] for h in history)
    out = {}
    for name, score in CRITERIA.items():
        try:
            kept = max(history, key=lambda h: (score(h, before), -h["epoch"]))
        except KeyError:  # a figure this history lacks
            continue
        out[name] = {
            "epoch": kept["epoch"],
            "label_preservation": kept["label_preservation"],
            "fid": kept["fid"],
            "lp_given_up": round(100 * (best - kept["label_preservation"]), 2),
        }
    return out


def run(
    runs: list[str], data_dir: Path | None, threads: int | None, extra: list[str], out: Path
) -> dict:
    """Bench each run, writing the record to `out` after each (a long study keeps its runs)."""
    record: dict = {"commit": git_commit(), "runs": {}}
    results = record["runs"]
    for item in runs:
        protocol, gan = item.split(":")
        params = protocol_params(protocol)
        update = {"translate": params.translate.model_copy(update={"gan": gan})}
        if gan == "stargan" and extra:  # the multi-domain StarGAN of `gantl bench stargan`
            update["stargan"] = params.stargan.model_copy(update={"extra_domains": extra})
        params = params.model_copy(update=update)
        bench = run_bench(
            params, ["source_only", f"{gan}+source_only"], [0], data_dir, threads=threads
        )
        translation = bench["translation"][gan]
        results[item] = {
            "history": translation["history"],
            "untranslated": translation["untranslated"],
            "kept_epoch": translation["epoch"],
            "seconds": translation["seconds"],
            "pixel_source_only": bench["results"].get(f"{gan}+source_only"),
            "source_only": bench["results"].get("source_only"),
        }
        print(item, json.dumps(picks(translation["history"], translation["untranslated"])))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2))
    return record


def tables(record: dict) -> str:
    lines = [
        "# Label-free translator selection",
        "",
        f"Commit `{record['commit']}`. Label preservation (%) given up against the best epoch "
        "(oracle-judged: uses target labels); lower is better, the goal is ≤ 2. The runs "
        "trained with the criterion of their commit; every criterion is scored on the same "
        "per-epoch figures.",
        "",
    ]
    names = list(CRITERIA)
    lines += ["| run | epochs | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for item, r in record["runs"].items():
        p = picks(r["history"], r["untranslated"])
        cells = [f"{p[n]['lp_given_up']:.2f} (ep {p[n]['epoch']})" if n in p else "" for n in names]
        lines.append(f"| {item} | {len(r['history'])} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per epoch: oracle label preservation, oracle FID | source agreement, "
        "source-classifier FID, domain-judge FID.",
        "",
    ]
    for item, r in record["runs"].items():
        b = r["untranslated"]
        lines.append(
            f"- **{item}** untranslated: LP {100 * b['label_preservation']:.1f}, FID {b['fid']:.1f}"
            f" | {100 * b['src_agreement']:.1f}, {b['src_fid']:.1f}, "
            f"{b.get('dom_fid', float('nan')):.1f}"
        )
        for h in r["history"]:
            lines.append(
                f"  - epoch {h['epoch']}: {100 * h['label_preservation']:.1f}, {h['fid']:.1f} | "
                f"{100 * h['src_agreement']:.1f}, {h['src_fid']:.1f}, "
                f"{h.get('dom_fid', float('nan')):.1f}"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--stargan-extra",
        default="usps:usps/usps.h5",
        help="Comma-separated domains StarGAN also learns (needs --data-dir for USPS).",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/translator-selection.json")
    )
    parser.add_argument(
        "--tables", type=Path, default=None, help="Only print a saved JSON's tables."
    )
    args = parser.parse_args()
    if args.tables is not None:
        print(tables(json.loads(args.tables.read_text())))
        return
    extra = [d for d in args.stargan_extra.split(",") if d]
    record = run(args.runs.split(","), args.data_dir, args.threads, extra, args.out)
    markdown = tables(record)
    args.out.with_suffix(".md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
