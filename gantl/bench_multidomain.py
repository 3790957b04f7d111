"""`gantl bench stargan`: one StarGAN for several targets, against one CycleGAN per pair.

StarGAN's promise (Choi et al., CVPR 2018) is one generator for every pair among k domains.
Here it learns the source and every target at once: the first target's bench trains it (the
others are its `stargan.extra_domains`), and every other target's bench reuses it through
`translate.reuse`, pinned by its weights' hash, so it is trained once. Each target also gets a
CycleGAN of its own. Per target, every method m is set beside stargan+m and cyclegan+m, with
each translator's label preservation, FID and training time: one StarGAN's minutes against
the sum of the CycleGANs'.

All domains share one image shape (a StarGAN has one input size): 32 px RGB when any of them
is RGB, as `prepare` would choose for a pair, unless the params fix it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from gantl.bench import run_bench, write_bench
from gantl.config import Params, PixelMethod, params_from_dict
from gantl.data.prepare import experiment_shape
from gantl.data.specs import load_domain
from gantl.errors import ConfigError

GANS = ("stargan", "cyclegan")


def run_multidomain(
    params: Params,
    targets: list[str],
    methods: list[str],
    seeds: list[int],
    data_dir: Path | None = None,
    workdir: Path | None = None,
    threads: int | None = None,
    grids: Path | None = None,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """One StarGAN over `params.experiment.source` and all `targets`, one CycleGAN per target;
    each target benched with `methods` on untranslated, StarGAN- and CycleGAN-translated
    source images. `on_run` gets the suite so far after each bench."""
    source = params.experiment.source
    _check(source, targets, methods)
    shape = shared_shape(params, [source, *targets], data_dir)
    per_target: dict[str, dict[str, Any]] = {}
    suite = {
        "source": source,
        "targets": targets,
        "methods": methods,
        "seeds": seeds,
        "image_shape": {"size": shape[0], "channels": shape[1]},
        "runs": per_target,
    }

    def bench(target: str, gan: str, raw: dict[str, Any], names: list[str], **kw) -> None:
        name = f"{params.experiment.protocol}→{target} ({gan})"
        record = run_bench(
            params_from_dict(raw, f"bench stargan: {name}"),
            names,
            seeds,
            data_dir,
            workdir=workdir,
            threads=threads,
            grids=None if grids is None else Path(f"{grids}-{_short(target)}"),
            **kw,
        )
        per_target.setdefault(target, {})[gan] = record
        if on_run is not None:
            on_run(suite)

    with tempfile.TemporaryDirectory(prefix="gantl-stargan-", dir=workdir) as tmp:
        star = Path(tmp) / "stargan"
        for i, target in enumerate(targets):
            raw = _for_target(params, target, shape, "stargan")
            if i == 0:
                raw["stargan"]["extra_domains"] = targets[1:]
            else:
                pinned = json.loads((star / "manifest.json").read_text())["weights_sha256"]
                raw["translate"]["reuse"] = {"dir": str(star), "weights_sha256": pinned}
            names = [*methods, *(f"stargan+{m}" for m in methods)]
            bench(target, "stargan", raw, names, keep_translator=star if i == 0 else None)
    for target in targets:
        raw = _for_target(params, target, shape, "cyclegan")
        bench(target, "cyclegan", raw, [f"cyclegan+{m}" for m in methods])
    return suite


def _check(source: str, targets: list[str], methods: list[str]) -> None:
    if len(targets) < 2:
        raise ConfigError("bench stargan: --targets needs two or more domains for one StarGAN")
    if len(set(targets)) != len(targets) or source in targets:
        raise ConfigError(
            f"bench stargan: --targets must be distinct and differ from the source {source!r}"
        )
    allowed = get_args(PixelMethod)
    unknown = [m for m in methods if m not in allowed]
    if unknown or not methods:
        raise ConfigError(f"bench stargan: --methods {unknown or methods}; expected {allowed}")


def shared_shape(params: Params, specs: list[str], data_dir: Path | None) -> tuple[int, int]:
    """(size, channels) every domain is brought to: `prepare`'s choice for the pair of the
    source with an RGB target when any domain is RGB, else with the first target."""
    where = data_dir or params.experiment.data_dir
    domains = [load_domain(s, where, params.prepare.seed) for s in specs]
    rgb = next((d for d in domains[1:] if d.shape[2] == 3), domains[1])
    return experiment_shape(domains[0], rgb, params.prepare)


def _for_target(params: Params, target: str, shape: tuple[int, int], gan: str) -> dict[str, Any]:
    raw = params.model_dump(mode="json")
    raw["experiment"] |= {
        "target": target,
        "protocol": f"{params.experiment.source}→{target} (shared {shape[0]} px × {shape[1]})",
    }
    raw["prepare"] |= {"image_size": shape[0], "channels": shape[1]}
    raw["translate"] |= {"gan": gan, "reuse": None}
    raw["stargan"]["extra_domains"] = []
    return raw


def _short(spec: str) -> str:
    """A file-name-safe label of a domain spec: usps:usps/usps.h5 → usps."""
    kind, _, rest = spec.partition(":")
    stem = Path(rest.split(":")[0]).stem if rest else kind
    return "".join(c if c.isalnum() else "-" for c in stem or kind)


def multidomain_markdown(suite: dict[str, Any]) -> str:
    """Per target: each method untranslated, with StarGAN and with CycleGAN; then the
    translators' quality and minutes."""
    methods, runs = suite["methods"], suite["runs"]
    shape = suite["image_shape"]
    lines = [
        f"# One StarGAN for {len(suite['targets'])} targets of {suite['source']}, "
        "against one CycleGAN per pair",
        "",
        f"Target test accuracy (%), seeds {suite['seeds']}, checkpoints chosen by the label-free "
        f"validator; every domain at {shape['size']} px × {shape['channels']} channels. "
        "StarGAN is trained once on all domains and reused for every target; each CycleGAN "
        "learns one pair.",
        "",
        "| target | method | no translation | StarGAN | CycleGAN |",
        "|---|---|---:|---:|---:|",
    ]
    for target in suite["targets"]:
        got = runs.get(target, {})
        for m in methods:
            cells = [
                _accuracy(got.get("stargan"), m),
                _accuracy(got.get("stargan"), f"stargan+{m}"),
                _accuracy(got.get("cyclegan"), f"cyclegan+{m}"),
            ]
            lines.append(f"| {target} | {m} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| target | translator | label preservation | FID | untranslated: LP, FID "
        "| kept epoch | training s | stage s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    train_seconds = {gan: 0.0 for gan in GANS}
    for target in suite["targets"]:
        for gan in GANS:
            record = runs.get(target, {}).get(gan)
            t = (record or {}).get("translation", {}).get(gan)
            if t is None:
                continue
            before = t["untranslated"]
            stage = record["stage_seconds"].get(f"translate@{gan}", 0.0)
            reused = " (reused)" if t.get("reused_from") else ""
            kept = "as trained" if reused else f"{t['epoch']} of {t['epochs']}"
            train_seconds[gan] += t["seconds"]
            lines.append(
                f"| {target} | {gan}{reused} | {100 * t['label_preservation']:.1f} "
                f"| {t['fid']:.1f} | {100 * before['label_preservation']:.1f}, "
                f"{before['fid']:.1f} | {kept} | {t['seconds']:.0f} | {stage:.0f} |"
            )
    lines += [
        "",
        f"Translator training in all: StarGAN {train_seconds['stargan'] / 60:.1f} min for "
        f"{len(suite['targets'])} targets; CycleGAN {train_seconds['cyclegan'] / 60:.1f} min "
        "(one per target). Label preservation and FID are judged by each target's oracle "
        "(they use target labels: a diagnostic, never a choice).",
    ]
    commits = {r["commit"] for got in runs.values() for r in got.values()}
    if commits:
        lines += ["", f"Commit {', '.join(f'`{c}`' for c in sorted(map(str, commits)))}."]
    return "\n".join(lines) + "\n"


def _accuracy(record: dict[str, Any] | None, name: str) -> str:
    r = (record or {}).get("results", {}).get(name)
    if r is None:
        return ""
    star = " ★" if record["recommended"] == name else ""
    std = f" ± {100 * r['target_acc_std']:.1f}" if len(record["seeds"]) > 1 else ""
    return f"{100 * r['target_acc_mean']:.1f}{std}{star}"


def write_multidomain(suite: dict[str, Any], out: Path) -> Path:
    """`out` (JSON) and the table beside it (.md)."""
    return write_bench(suite, out, multidomain_markdown)
