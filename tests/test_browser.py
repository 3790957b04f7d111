"""The headless-chromium driver the report tests rely on, on tiny hand-written pages."""

from __future__ import annotations

import base64
import io
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser import INSTALL_HINT, Browser, BrowserError, find_chromium, image_report

if find_chromium() is None:
    pytest.skip(f"no chromium for the browser tests: {INSTALL_HINT}", allow_module_level=True)

BROKEN = "data:image/png;base64,AAAA"


def _png_uri(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _page(dir: Path, body: str, name: str = "page.html") -> Path:
    path = dir / name
    path.write_text(f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>")
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with Browser(tmp_path_factory.mktemp("chromium")) as b:
        yield b


@pytest.fixture(scope="module")
def images_page(tmp_path_factory) -> Path:
    gradient = np.tile(np.arange(0, 240, 4, dtype=np.uint8), (30, 1))  # 30 x 60, grey ramp
    white = np.full((20, 40, 3), 255, dtype=np.uint8)
    body = (
        f'<img id="good" src="{_png_uri(gradient)}">'
        f'<img id="blank" src="{_png_uri(white)}">'
        f'<img id="broken" src="{BROKEN}">'
        '<svg width="120" height="50"><svg width="10" height="10"></svg>'
        '<rect width="120" height="50" fill="teal"></rect></svg>'
    )
    return _page(tmp_path_factory.mktemp("images"), body)


def test_image_report_tells_good_from_broken_and_blank_images(browser, images_page):
    browser.open(images_page)
    good, blank, broken, svg = image_report(browser)
    assert good["tag"] == "img" and good["src"].startswith("data:image/png;base64,")
    assert len(good["src"]) == 40
    assert good["complete"] and (good["naturalWidth"], good["naturalHeight"]) == (60, 30)
    assert good["nonBlank"] and good["error"] is None
    assert blank["complete"] and blank["naturalWidth"] == 40 and not blank["nonBlank"]
    assert broken["src"] == BROKEN and broken["naturalWidth"] == 0 and not broken["nonBlank"]
    assert svg == {"tag": "svg", "width": 120, "height": 50}  # the nested <svg> is not listed
    assert browser.requests == [] and browser.errors == []


def test_evaluate_returns_values_and_raises_on_script_errors(browser, tmp_path):
    browser.open(_page(tmp_path, '<h1 id="h">Transfer <b>report</b></h1>'))
    assert browser.evaluate("document.getElementById('h').textContent") == "Transfer report"
    assert browser.evaluate("Promise.resolve([1, 'a', null])") == [1, "a", None]
    assert browser.evaluate("undefined") is None
    with pytest.raises(BrowserError, match="nope is not defined"):
        browser.evaluate("nope.x")


def test_full_page_screenshot_covers_the_whole_document(browser, tmp_path):
    body = '<div style="height:1500px"></div><div style="height:40px;background:#c00"></div>'
    browser.open(_page(tmp_path, f'<body style="margin:0;background:#fff">{body}'), height=600)
    shot = browser.screenshot(tmp_path / "page.png")
    with Image.open(shot) as im:
        assert im.format == "PNG" and im.width == 1280 and im.height >= 1540
        pixels = np.asarray(im.convert("RGB"))
    assert (pixels != pixels[0, 0]).any()
    assert tuple(pixels[1520, 10]) == (204, 0, 0)  # below the 600 px viewport


def test_a_page_reaching_out_is_caught_and_fetches_nothing(browser, tmp_path):
    browser.open(
        _page(
            tmp_path,
            '<img src="http://example.com/x.png"><img src="https://10.0.0.1/y.png">'
            '<script>console.error("boom")</script>',
        )
    )
    assert browser.requests == ["http://example.com/x.png", "https://10.0.0.1/y.png"]
    assert [r["naturalWidth"] for r in image_report(browser)] == [0, 0]
    assert "boom" in browser.errors


def test_open_refuses_a_missing_page(browser, tmp_path):
    with pytest.raises(BrowserError, match="no such page"):
        browser.open(tmp_path / "missing.html")


def test_chromium_leaves_no_process_and_keeps_its_files_in_its_dir(tmp_path):
    with Browser(tmp_path) as b:
        b.open(_page(tmp_path, "<p>hi</p>"))
        pids = [b._proc.pid, *_descendants(b._proc.pid)]
        short_tmp = b._short_tmp  # pytest's tmp_path is too deep for chromium's socket
        assert len(pids) > 1
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]  # zombies included
    assert (tmp_path / "home" / "profile").is_dir()
    assert short_tmp is None or not Path(short_tmp).exists()


def test_a_dead_chromium_is_reported(tmp_path):
    with Browser(tmp_path) as b:
        (chromium,) = [
            pid
            for pid in _descendants(b._proc.pid)
            if b"--remote-debugging-pipe" in Path(f"/proc/{pid}/cmdline").read_bytes()
            and Path(f"/proc/{pid}/cmdline").read_bytes().count(b"--type=") == 0
        ]
        os.kill(chromium, signal.SIGKILL)
        with pytest.raises(BrowserError, match="chromium died"):
            b.evaluate("1")


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                child = int(stat.parent.name)
                found.append(child)
                todo.append(child)
    return found
