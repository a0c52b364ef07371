"""`t1dmc report` in a real headless browser: the page loads, every embedded figure decodes,
the console stays free of errors and the figures are shown at their size (legible).

The browser is Debian's `chromium-headless-shell` (`apt-get install -y chromium-headless-shell`;
.ci/run installs it), driven over the DevTools protocol with tornado's websocket client (a
dependency of dask's distributed). Without the browser the tests skip, saying why."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from engine.analysis import report
from engine.batch import sweep
from engine.batch.config import parse_config

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
WIDTH = 1100  # px: the page is at most 1,000 px wide


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


BROWSER = find_browser()
needs_browser = pytest.mark.skipif(
    BROWSER is None,
    reason="no headless Chromium here: apt-get install -y chromium-headless-shell (as root; "
    ".ci/run does)",
)


class DevTools:
    """A minimal DevTools-protocol client on one page target: commands by id, events kept."""

    def __init__(self, conn):
        self.conn, self.next_id, self.events = conn, 0, []

    async def call(self, method: str, timeout: float = 60.0, **params):
        self.next_id += 1
        my_id = self.next_id
        await self.conn.write_message(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            msg = await asyncio.wait_for(self.conn.read_message(), deadline - time.monotonic())
            if msg is None:
                raise RuntimeError(f"the browser closed the connection during {method}")
            data = json.loads(msg)
            if data.get("id") == my_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data.get("result", {})
            if "method" in data:
                self.events.append(data)

    async def wait_event(self, name: str, timeout: float = 60.0) -> dict:
        for e in self.events:
            if e["method"] == name:
                return e
        deadline = time.monotonic() + timeout
        while True:
            msg = await asyncio.wait_for(self.conn.read_message(), deadline - time.monotonic())
            if msg is None:
                raise RuntimeError(f"the browser closed the connection waiting for {name}")
            data = json.loads(msg)
            if "method" in data:
                self.events.append(data)
                if data["method"] == name:
                    return data

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and the browser's own error log entries."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value")) for a in p.get("args", [])))
            elif e["method"] == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: " + p["entry"].get("text", ""))
        return out


IMAGES_JS = """
Promise.all(Array.from(document.images).map(img => img.decode().then(
  () => ({alt: img.alt, ok: true, w: img.naturalWidth, h: img.naturalHeight,
          shown: img.getBoundingClientRect().width}),
  err => ({alt: img.alt, ok: false, w: img.naturalWidth, h: img.naturalHeight,
           shown: img.getBoundingClientRect().width, err: String(err)}))))
"""


async def _inspect(browser: str, page: Path, screenshot: Path | None) -> dict:
    from tornado.websocket import WebSocketClosedError, websocket_connect

    profile = tempfile.mkdtemp(prefix="t1dmc-browser-")
    proc = subprocess.Popen(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Debian's command is a script that starts the browser: the
    )  # browser and its helpers are ended together, as a process group
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{browser} did not start (exit {proc.poll()})")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            targets = json.load(r)
        ws = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        conn = await websocket_connect(ws, max_message_size=512 * 2**20)
        dt = DevTools(conn)
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            await dt.call(domain)
        await dt.call("Page.navigate", url=page.resolve().as_uri())
        await dt.wait_event("Page.loadEventFired")
        res = await dt.call(
            "Runtime.evaluate", expression=IMAGES_JS, awaitPromise=True, returnByValue=True
        )
        images = res["result"]["value"]
        title = (await dt.call("Runtime.evaluate", expression="document.title"))["result"]
        out = {"images": images, "title": title.get("value"), "errors": dt.errors()}
        if screenshot is not None:
            metrics = await dt.call("Page.getLayoutMetrics")
            height = int(metrics["cssContentSize"]["height"]) + 20
            await dt.call(
                "Emulation.setDeviceMetricsOverride",
                width=WIDTH,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            shot = await dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            import base64

            screenshot.write_bytes(base64.b64decode(shot["data"]))
            out["height"] = height
        try:
            await dt.call("Browser.close", timeout=10)
        except (TimeoutError, RuntimeError, OSError, WebSocketClosedError):
            pass  # it closed the connection as it went
        conn.close()
        return out
    finally:
        _end_group(proc)
        shutil.rmtree(profile, ignore_errors=True)


def _end_group(proc: subprocess.Popen) -> None:
    """End the browser's process group (the launcher script, the browser, its helpers)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)  # anyone left in the group?
            except ProcessLookupError:
                break
            proc.poll()  # reap the launcher
            time.sleep(0.1)
        else:
            continue
        break
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def inspect_page(page: Path, screenshot: Path | None = None, browser: str | None = None) -> dict:
    """Open `page` in headless Chromium: {"images": [{alt, ok, w, h, shown}], "title",
    "errors": [...]}, and a full-page PNG at `screenshot` when given."""
    browser = browser or BROWSER
    if browser is None:
        raise RuntimeError("no headless Chromium found")
    return asyncio.run(_inspect(browser, Path(page), screenshot))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """2 scenarios x 30 patients x 20 days, every age group, 4 traced patients."""
    cfg = parse_config(
        {
            "run": {"name": "browser check", "n_patients": 30, "days": 20, "seed": 21},
            "cohort": {"groups": {"adult": 1.0, "adolescent": 1.0, "child": 1.0}},
            "sweep": {"grid": {"therapy.kind": ["real_world", "intensive"]}},
            "output": {"traced": 4},
        }
    )
    path = tmp_path_factory.mktemp("browser") / "two.zarr"
    sweep.run(cfg, path, quiet=True, workers=min(2, os.cpu_count() or 1))
    return path


@needs_browser
@pytest.mark.parametrize("units", ["mgdl", "mmol"])
def test_the_report_loads_in_a_browser_with_every_figure_decoded(store, tmp_path, units):
    out = tmp_path / "rep"
    report.render(store, out, units=units, window=7)
    result = inspect_page(out / "report.html", tmp_path / "page.png")
    assert result["errors"] == []
    assert result["title"] == "browser check"
    images = result["images"]
    assert sorted(i["alt"] for i in images) == sorted(
        {
            "time_in_ranges": "time in ranges",
            "hypoglycaemia": "hypoglycaemia",
            "severe_events": "severe events",
            "attribution": "attribution over time",
            "loss_by_cause": "sensitivity lost, by cause",
            "loss_by_group": "sensitivity lost, by age group",
            "forest": "forest plot",
            "agp": "ambulatory glucose profile",
            "trajectories": "trajectories",
            "distributions": "distributions",
        }.values()
    )
    for img in images:
        assert img["ok"] and img["w"] > 0 and img["h"] > 0, img
        # drawn at 100 dpi and shown at least at 90% of that: 10-pt ticks stay >= 9 pt
        assert img["w"] <= 1000 and img["shown"] >= 0.9 * img["w"], img
    png = (tmp_path / "page.png").read_bytes()
    assert png.startswith(b"\x89PNG") and result["height"] > 3000
