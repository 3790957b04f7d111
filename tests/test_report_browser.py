"""The report page of a real pipeline run (`dvc repro` of configs/tiny.yaml), rendered in
headless Chromium: every figure loads and shows something, the headline numbers are those of
metrics/summary.json, and the page asks for nothing outside itself.

Set GANTL_SCREENSHOT_DIR to keep the full-page screenshot for a look.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.browser import INSTALL_HINT, Browser, find_chromium, image_report

if find_chromium() is None:
    pytest.skip(f"no chromium for the browser tests: {INSTALL_HINT}", allow_module_level=True)

HEADLINE = """Array.from(document.querySelectorAll('td[data-metric]')).map(td => ({
  model: td.dataset.model, metric: td.dataset.metric, text: td.textContent.trim()}))"""
RECOMMENDED = """Array.from(document.querySelectorAll('tr[data-recommended]'))
  .map(tr => tr.querySelector('td[data-model]').dataset.model)"""


def _expected(result: dict, metric: str) -> str:
    """How the page writes a summary value: percent with 2 decimals, PAD as is."""
    value = result.get(metric)
    if value is None:
        return "–"
    return f"{value:.2f}" if metric == "proxy_a_distance_mean" else f"{100 * value:.2f}"


@pytest.fixture(scope="module")
def rendered(reproduced_repo, tmp_path_factory):
    page = reproduced_repo / "reports" / "index.html"
    shot = tmp_path_factory.mktemp("screenshot") / "report.png"
    with Browser(tmp_path_factory.mktemp("chromium")) as browser:
        browser.open(page, width=1280, height=900)
        images = image_report(browser)
        cells = browser.evaluate(HEADLINE)
        recommended = browser.evaluate(RECOMMENDED)
        browser.screenshot(shot)
        problems = {"errors": list(browser.errors), "requests": list(browser.requests)}
    if os.environ.get("GANTL_SCREENSHOT_DIR"):
        keep = Path(os.environ["GANTL_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, keep / shot.name)
    summary = json.loads((reproduced_repo / "metrics" / "summary.json").read_text())
    return {
        "images": images,
        "cells": cells,
        "recommended": recommended,
        "shot": shot,
        "problems": problems,
        "summary": summary,
        "size": page.stat().st_size,
    }


def test_every_figure_loads_and_is_not_blank(rendered):
    images = [i for i in rendered["images"] if i["tag"] == "img"]
    # curves, t-SNE, confusion, accuracy bars and the translation grid at the least
    assert len(images) >= 5
    for image in images:
        assert image["complete"] and image["naturalWidth"] > 0, image
        assert image["width"] > 50 and image["height"] > 50, image  # laid out, not collapsed
        assert image["nonBlank"], image


def test_headline_numbers_equal_the_summary(rendered):
    results = rendered["summary"]["results"]
    cells = rendered["cells"]
    assert {c["model"] for c in cells} == set(results)
    for cell in cells:
        assert cell["text"] == _expected(results[cell["model"]], cell["metric"]), cell
    shown = {(c["model"], c["metric"]) for c in cells}
    assert all((m, "target_acc_mean") in shown for m in results)
    assert rendered["recommended"] == [rendered["summary"]["recommended"]]


def test_the_page_is_self_contained_small_and_renders(rendered):
    assert rendered["problems"] == {"errors": [], "requests": []}
    assert rendered["size"] <= 2_000_000
    with Image.open(rendered["shot"]) as shot:
        assert shot.width >= 1000 and shot.height > 2000  # the whole page, not one screen
        colours = shot.convert("L").getextrema()
        assert colours[1] - colours[0] > 100  # text and figures on the background
