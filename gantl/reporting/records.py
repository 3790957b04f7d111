"""The sections beside the results: the translator, the champion and where it all came from."""

from __future__ import annotations

import json
from typing import Any

from gantl.reporting import figures, inputs, provenance
from gantl.reporting.html import esc, image, note, section, table, tag
from gantl.reporting.workspace import Workspace
from gantl.stages.paths import METRICS, MODELS, PLOTS

CHAMPION = MODELS / "champion"  # gantl.champion: champion.json and registry.jsonl
QUALITY = (  # metrics/translate.json's figures: (key, column, format)
    ("fid", "FID (uses target labels)", "{:.2f}"),
    ("kid", "KID (uses target labels)", "{:.4f}"),
    ("label_preservation", "label preservation (uses target labels)", "{:.1%}"),
    ("src_fid", "FID (source model)", "{:.2f}"),
    ("dom_fid", "FID (domain judge)", "{:.2f}"),
    ("src_agreement", "source-model agreement", "{:.1%}"),
    ("cycle_l1", "cycle L1", "{:.4f}"),
    ("label_free_score", "label-free score", "{:.3f}"),
)


def _fmt(value: Any, pattern: str = "{}") -> str:
    if value is None:
        return "–"
    try:
        return pattern.format(value)
    except (TypeError, ValueError):
        return str(value)


def _quality_table(record: dict[str, Any]) -> str:
    """Translated against untranslated source images, on the figures the record holds."""
    before = record.get("untranslated") or {}
    shown = [q for q in QUALITY if q[0] in record or q[0] in before]
    rows = [
        ["translated (kept epoch)", *(_fmt(record.get(k), f) for k, _, f in shown)],
        ["untranslated source", *(_fmt(before.get(k), f) for k, _, f in shown)],
    ]
    about = (
        f"kept epoch {_fmt(record.get('epoch'))} of {_fmt(record.get('epochs'))} "
        f"(select: {_fmt(record.get('select'))}), {_fmt(record.get('seconds'))} s; "
        f"judged on {_fmt(record.get('judge'))}, {_fmt(record.get('n_images'))} images"
    )
    if record.get("reused_from"):
        about += f"; reused from {record['reused_from']}"
    return table(["", *(c for _, c, _ in shown)], rows) + tag("p", esc(about))


def translation_section(ws: Workspace) -> str:
    """6. The translator's image grid, its quality against untranslated images, and its curves."""
    record = inputs.read_json(ws.path(METRICS / "translate.json"))
    gan = ws.params.translate.gan if ws.params is not None else (record or {}).get("gan")
    title = f"Translation ({gan})" if gan else "Translation"
    if not gan:
        return section("translation", title, note("no translator in params"))
    grid = inputs.read_png(ws.path(PLOTS / "translate" / f"{gan}.png"))
    history = inputs.read_history(ws.path(PLOTS / "translate" / f"{gan}.csv"))
    if record is None and grid is None and history is None:
        return section("translation", title, note(f"no translation outputs for {gan} yet"))
    body = ""
    if grid is not None:
        caption = "rows: source | translated | reconstructed (two-way GANs) | real target"
        body += image(grid, f"{gan} translations", caption, zoom=2)
    body += _quality_table(record) if record else note("metrics/translate.json not found")
    png = figures.translation_figure(gan, history) if history else None
    body += image(png, f"{gan} per epoch") if png else note(f"plots/translate/{gan}.csv not found")
    return section("translation", title, body)


def _short(value: Any, n: int = 12) -> str:
    return value[:n] if isinstance(value, str) else _fmt(value)


def champion_section(ws: Workspace) -> str:
    """7. The model in service (models/champion/champion.json) and the latest decision."""
    title = "Champion"
    pointer = inputs.read_json(ws.path(CHAMPION / "champion.json"))
    last = inputs.last_registry_line(ws.path(CHAMPION))
    if pointer is None and last is None:
        return section(
            "champion", title, note("no champion promoted yet (gantl retrain promotes one)")
        )
    body = ""
    if pointer is not None:
        keys = ("method", "seed", "checkpoint", "validator", "score", "promoted_at")
        rows = [[k, _fmt(pointer.get(k))] for k in keys]
        rows += [[k, _short(pointer.get(k))] for k in ("weights_sha256", "data_hash", "commit")]
        body += table(["champion", ""], rows, class_="kv")
    else:
        body += note("no champion promoted yet (gantl retrain promotes one)")
    if last is not None:
        candidate, held = last.get("candidate") or {}, last.get("champion") or {}
        rows = [
            ["when", _fmt(last.get("time"))],
            ["promoted", "yes" if last.get("promoted") else "no"],
            ["reason", _fmt(last.get("reason"))],
            ["candidate", f"{_fmt(candidate.get('model'))} seed {_fmt(candidate.get('seed'))}"],
            ["candidate score", _fmt(candidate.get("score"), "{:.4f}")],
            ["champion score now", _fmt(held.get("score_now"), "{:.4f}")],
        ]
        body += table(["latest decision", ""], rows, class_="kv")
    return section("champion", title, body)


def _commit_rows(ws: Workspace) -> list[list[str]]:
    state = provenance.commit(ws.root)
    if state.get("head") is None:
        return [["git", "not a git repository"]]
    dirty = " (uncommitted changes)" if state.get("workspace_dirty") else ""
    return [
        ["HEAD", _short(state["head"]) + dirty],
        ["dvc.lock", f"{_short(state.get('lock_commit'))} ({_fmt(state.get('lock_state'))})"],
    ]


def lineage_section(ws: Workspace) -> str:
    """8. The commit, the prepared data's hashes and the params that differ from defaults."""
    rows = _commit_rows(ws)
    rows.append(["data/prepared (dvc.lock md5)", _fmt(provenance.prepared_md5(ws.root))])
    body = table(["", ""], rows, class_="kv")
    splits = provenance.prepared_splits(ws.root)
    if splits:
        header = ["role", "split", "domain", "spec", "rows", "raw-input sha256"]
        keys = ("domain", "spec", "num_rows")
        cells = [
            [s["role"], s["split"], *(_fmt(s[k]) for k in keys), _short(s["raw_sha256"], 16)]
            for s in splits
        ]
        body += table(header, cells)
    else:
        body += note("no prepared splits (data/prepared/) to read hashes from")
    changed = provenance.changed_params(ws.params) if ws.params is not None else []
    if changed:
        cells = [
            [key, json.dumps(value), "(no default)" if d is provenance.REQUIRED else json.dumps(d)]
            for key, value, d in changed
        ]
        body += table(["param", "this run", "default"], cells, class_="params")
    elif ws.params is None:
        body += note("no params file: the params that differ from their defaults are unknown")
    command = tag("code", esc("gantl lineage <artifact>"))
    body += tag("p", f"{command} traces any output back to its raw files", class_="note")
    return section("lineage", "Lineage", body)
