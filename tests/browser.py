"""Headless chromium for tests, driven through the DevTools protocol over a pipe (stdlib only).

`--remote-debugging-pipe` makes chromium read commands from fd 3 and write replies and events
to fd 4, one JSON message per NUL-terminated chunk: no port, no websocket client, no driver.

    with Browser(tmp_path) as b:
        b.open(tmp_path / "index.html")
        assert b.evaluate("document.title") == "report"
        images = image_report(b)
        b.screenshot(tmp_path / "page.png")
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = (
    "`make test` installs Debian's chromium when run as root (or with passwordless sudo); "
    "otherwise `apt-get install chromium`, or point GANTL_CHROMIUM at a chromium binary"
)

# Everything that could reach out (updates, metrics, sync) is off, no host but localhost
# resolves, and other traffic goes to a closed port, so a page that is not self-contained
# fails (and shows in `Browser.requests`) instead of fetching. A test's own local pages need
# no sandbox, which containers often cannot provide (and chromium refuses root without this).
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",  # a container's /dev/shm is often tiny
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-component-update",
    "--disable-background-networking",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--no-pings",
    "--proxy-server=127.0.0.1:9",  # a dead proxy for all but loopback: no IP-literal fetches
    "--metrics-recording-only",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-color-profile=srgb",  # pixel values as written in the page
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    """Chromium failed to start, died, timed out, or a page/script reported an error."""


def find_chromium() -> str | None:
    """GANTL_CHROMIUM, else the first of chromium / chromium-browser / google-chrome on PATH."""
    override = os.environ.get("GANTL_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else shutil.which(override)
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return _unwrap(path)
    return None


def _unwrap(path: str) -> str:
    """Debian's `chromium` is a shell launcher that adds flags (remote extensions) and a noisy
    /dev/shm check; the binary it execs takes the same arguments."""
    real = Path(path).resolve()
    binary = Path("/usr/lib") / real.name / real.name
    with contextlib.suppress(OSError):
        if real.read_bytes()[:2] == b"#!" and os.access(binary, os.X_OK):
            return str(binary)
    return path


class Browser:
    """One headless chromium with one page; all its files live under `tmp_dir`.

    `errors` collects uncaught exceptions, console.error and browser log errors of the page;
    `requests` the URLs it fetched besides the opened one (data:, blob:, about: left out).
    Both are reset by `open`.
    """

    def __init__(self, tmp_dir: str | os.PathLike[str], timeout: float = 30.0) -> None:
        self.tmp_dir = Path(tmp_dir)
        self.timeout = timeout
        self.errors: list[str] = []
        self.requests: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = self.tmp_dir / "chromium.log"
        self._buf = b""
        self._next_id = 0
        self._session: str | None = None
        self._events: list[str] = []
        self._url = ""
        self._short_tmp: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Browser:
        exe = find_chromium()
        if exe is None:
            raise BrowserError(f"no chromium found: {INSTALL_HINT}")
        home = self.tmp_dir / "home"
        for sub in ("profile", "crash", "tmp", ".config", ".cache", ".local/share", "run"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        (home / "run").chmod(0o700)
        tmp = home / "tmp"
        # Chromium's singleton socket lives in TMPDIR, and a socket path has a 107-byte limit
        # that pytest's deep tmp_path can exceed: then a short dir of our own, removed on close.
        if len(str(tmp)) > 60:
            self._short_tmp = tempfile.mkdtemp(prefix="chromium-")
            tmp = Path(self._short_tmp)
        env = dict(os.environ)
        env.update(
            HOME=str(home),
            TMPDIR=str(tmp),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_DATA_HOME=str(home / ".local/share"),
            XDG_RUNTIME_DIR=str(home / "run"),
        )
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        args = [
            *FLAGS,
            f"--user-data-dir={home / 'profile'}",
            f"--crash-dumps-dir={home / 'crash'}",
            "about:blank",
        ]
        try:
            with open(self._log, "wb") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", __file__, str(cmd_r), str(resp_w), exe, *args],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(cmd_r, resp_w),
                    env=env,
                    cwd=home,
                    start_new_session=True,  # away from the terminal's signals (Ctrl-C)
                )
        finally:
            os.close(cmd_r)
            os.close(resp_w)
        try:
            target = self._send("Target.createTarget", {"url": "about:blank"}, session=False)
            attached = self._send(
                "Target.attachToTarget",
                {"targetId": target["targetId"], "flatten": True},
                session=False,
            )
            self._session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                self._send(f"{domain}.enable")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Ask chromium to quit, else have the reaper kill it; returns once all of it is gone."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(BrowserError, OSError):
                self._write({"id": self._new_id(), "method": "Browser.close"})
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for fd in (self._cmd_w, self._resp_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._short_tmp:
            shutil.rmtree(self._short_tmp, ignore_errors=True)

    # -- page API ----------------------------------------------------------------------------

    def open(
        self, url_or_path: str | os.PathLike[str], width: int = 1280, height: int = 800
    ) -> None:
        """Load a URL or a local file at this viewport size; returns after its load event."""
        url = str(url_or_path)
        if isinstance(url_or_path, os.PathLike) or (
            "://" not in url and not url.startswith(("about:", "data:"))
        ):
            path = Path(url_or_path).resolve()
            if not path.is_file():
                raise BrowserError(f"no such page: {path}")
            url = path.as_uri()
        self._send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.errors.clear()
        self.requests.clear()
        self._events.clear()
        self._url = url
        reply = self._send("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise BrowserError(f"cannot open {url}: {reply['errorText']}")
        self._wait_event("Page.loadEventFired", f"loading {url}")
        deadline = time.monotonic() + self.timeout
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} never reached readyState 'complete'")
            time.sleep(0.05)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JS expression in the page; promises are awaited."""
        reply = self._send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"JS error in {expression[:80]!r}: {text}")
        return reply["result"].get("value")

    def screenshot(self, path: str | os.PathLike[str], full_page: bool = True) -> Path:
        """A PNG of the viewport, or of the whole document when `full_page`."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self._send("Page.getLayoutMetrics")["cssContentSize"]
            params |= {
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": max(1, size["width"]),
                    "height": max(1, size["height"]),
                    "scale": 1,
                },
            }
        data = self._send("Page.captureScreenshot", params)["data"]
        out = Path(path)
        out.write_bytes(base64.b64decode(data))
        return out

    # -- protocol ----------------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _send(
        self, method: str, params: dict[str, Any] | None = None, session: bool = True
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {"id": self._new_id(), "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self._session
        self._write(msg)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == msg["id"]:
                if "error" in reply:
                    raise BrowserError(f"{method} failed: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._on_event(reply)

    def _wait_event(self, method: str, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while method not in self._events:
            self._on_event(self._read(deadline, what))

    def _on_event(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method is None or msg.get("sessionId") != self._session:
            return
        self._events.append(method)
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url != self._url and not url.startswith(("data:", "blob:", "about:")):
                self.requests.append(url)

    def _write(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._cmd_w, data) :]
        except OSError as e:
            raise self._died(f"sending {msg['method']}") from e

    def _read(self, deadline: float, what: str) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._resp_r], [], [], left)[0]:
                raise BrowserError(f"chromium timed out ({self.timeout:g} s) {what}")
            chunk = os.read(self._resp_r, 1 << 20)
            if not chunk:
                raise self._died(what)
            self._buf += chunk
        raw, _, self._buf = self._buf.partition(b"\0")
        return json.loads(raw)

    def _died(self, what: str) -> BrowserError:
        code = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(timeout=2)
        try:
            tail = self._log.read_text(errors="replace")[-2000:]
        except OSError:
            tail = ""
        return BrowserError(f"chromium died (exit {code}) {what}; its output:\n{tail}")


# Every <img>: decoded, drawn onto a canvas (data: URIs leave it untainted), and called blank
# when all its pixels are one colour; and every outermost inline <svg> with its rendered size.
_IMAGE_REPORT_JS = """
(async () => {
  const out = [];
  for (const img of document.images) {
    try { await img.decode(); } catch (e) {}
    const r = {tag: 'img', src: (img.getAttribute('src') || '').slice(0, 40),
               complete: img.complete, naturalWidth: img.naturalWidth,
               naturalHeight: img.naturalHeight, width: img.width, height: img.height,
               nonBlank: false, error: null};
    if (img.complete && img.naturalWidth > 0 && img.naturalHeight > 0) {
      try {
        const k = Math.min(1, 4096 / Math.max(img.naturalWidth, img.naturalHeight));
        const w = Math.max(1, Math.round(img.naturalWidth * k));
        const h = Math.max(1, Math.round(img.naturalHeight * k));
        const canvas = document.createElement('canvas');
        canvas.width = w; canvas.height = h;
        const ctx = canvas.getContext('2d', {willReadFrequently: true});
        ctx.drawImage(img, 0, 0, w, h);
        const px = new Uint32Array(ctx.getImageData(0, 0, w, h).data.buffer);
        const first = px[0];
        r.nonBlank = px.some(p => p !== first);
      } catch (e) { r.error = String(e); }
    }
    out.push(r);
  }
  for (const svg of document.querySelectorAll('svg')) {
    if (svg.parentElement && svg.parentElement.closest('svg')) continue;
    const box = svg.getBoundingClientRect();
    out.push({tag: 'svg', width: box.width, height: box.height});
  }
  return out;
})()
"""


def image_report(browser: Browser) -> list[dict[str, Any]]:
    """One dict per <img> (tag, src: first 40 chars, complete, naturalWidth, naturalHeight,
    width, height: rendered, nonBlank, error) then per outermost <svg> (tag, width, height)."""
    return browser.evaluate(_IMAGE_REPORT_JS)


def _children() -> list[int]:
    """This process's children, orphans adopted as subreaper included (from /proc)."""
    me, kids = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # the ppid follows the state, after the name in parentheses (which may hold any)
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == me:
                    kids.append(int(entry.name))
    return kids


def _reaper(argv: list[str]) -> int:
    """`python browser.py CMD_FD REPLY_FD chromium ARGS...`: chromium with the two pipe ends as
    its fds 3 and 4, under this process as subreaper.

    subprocess can pass fds but not renumber them (preexec_fn is unsafe in a threaded process
    such as pytest's). And chromium leaves helpers (zygotes, crashpad) behind when it quits; in
    a container whose PID 1 reaps nothing they would stay zombies: here they are adopted and
    reaped. SIGTERM kills chromium's process group and every adopted process.
    """
    import ctypes
    import fcntl

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER (Linux)
    high = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in argv[:2]]
    for fd in argv[:2]:
        os.close(int(fd))
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)
            for fd in high:
                os.close(fd)
            os.execv(argv[2], argv[2:])
        finally:
            os._exit(127)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    for fd in high:
        os.close(fd)

    def stop(*_: object) -> None:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        for kid in _children():
            with contextlib.suppress(OSError):
                os.kill(kid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, stop)
    code = 0
    while True:
        try:
            done, status = os.wait()
        except ChildProcessError:
            return code
        if done == pid:
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(_reaper(sys.argv[1:]))
