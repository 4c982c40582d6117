"""The built book, as a reader's browser sees it.

Every page is opened in headless Chromium, driven through the Chrome DevTools Protocol
over a pipe (``--remote-debugging-pipe``: JSON messages separated by NUL bytes on file
descriptors 3 and 4), so nothing beyond the standard library is needed. A page fails on
a JavaScript error, a console error, a local resource or image that does not load; the
results page must show a figure and a table. Links between pages are checked from the
HTML files themselves, anchors included.

The book is built once with the smoke profile, unless ``HYBRIDLIB_BOOK=existing`` says
to check the book already in ``_build/html``. Screenshots of the intro and the results
page go to ``_build/screenshots/``.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_PAGE = "book/chapters/06_results.html"
INTRO_PAGE = "book/intro.html"
BUILD_TIMEOUT_S = 1800  # the whole smoke book
STEP_TIMEOUT_S = 30  # one DevTools command or one page load
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    # Only the local server is reachable: a CDN script (MathJax) fails fast and the same
    # way with or without internet, instead of depending on the network of the day.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# --- the book and the browser --------------------------------------------------------------


@pytest.fixture(scope="session")
def html_dir() -> Path:
    """The built HTML book: built now with the smoke profile, or the existing one."""
    html = REPO_ROOT / "_build" / "html"
    if os.environ.get("HYBRIDLIB_BOOK") != "existing":
        command = [sys.executable, "-m", "hybridlib.pipeline", "--profile", "smoke"]
        result = subprocess.run(command, cwd=REPO_ROOT, timeout=BUILD_TIMEOUT_S)
        assert result.returncode == 0, f"{' '.join(command)} failed (exit {result.returncode})"
    if not (html / "index.html").exists():
        pytest.fail(f"no built book at {html}: run python -m hybridlib.pipeline first")
    return html


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's executable; its absence skips the browser checks, except on CI."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = name and shutil.which(name)
        if found:
            return found
    message = "Chromium not found (apt-get install chromium, or set CHROMIUM=/path/to/it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def server(html_dir: Path):
    """The book served over HTTP on a free local port; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest's output readable
            pass

    handler = functools.partial(Quiet, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


LAUNCHER = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


class DevTools:
    """A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe``.

    Chromium reads commands from its fd 3 and writes replies and events to its fd 4;
    a small Python launcher moves our pipe ends to those numbers, then execs it.
    """

    def __init__(self, executable: str, profile_dir: Path) -> None:
        commands_r, self._commands = os.pipe()
        self._replies, replies_w = os.pipe()
        self.log = profile_dir / "chromium.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    LAUNCHER,
                    str(commands_r),
                    str(replies_w),
                    executable,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile_dir}",
                    "--remote-debugging-pipe",
                    "about:blank",
                ],
                pass_fds=(commands_r, replies_w),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its helper processes can be ended as one group
            )
        os.close(commands_r)
        os.close(replies_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from Chromium in time")
            if select.select([self._replies], [], [], remaining)[0]:
                chunk = os.read(self._replies, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the DevTools pipe; see {self.log}")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        """Send a command and return its result; events read meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._commands, data) :]
        except BrokenPipeError:
            log = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"Chromium is not running; its log ends with:\n{log}") from None
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        """The next event named ``method`` (one already received counts)."""
        for index, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(index)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            event = self._read(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.process.wait(timeout=10)
        except Exception:  # a hung or dead browser is ended below either way
            pass
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        os.close(self._commands)
        os.close(self._replies)


class Page:
    """One browser tab, attached through a flat DevTools session."""

    def __init__(self, devtools: DevTools) -> None:
        self.devtools = devtools
        target = devtools.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = devtools.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )

    def call(self, method: str, **params) -> dict:
        return self.devtools.call(method, session=self.session, **params)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (promises are awaited)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression[:60]!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> list[str]:
        """Load ``url`` fully; return the problems seen on the way."""
        self.devtools.events.clear()
        reply = self.call("Page.navigate", url=url)
        if reply.get("errorText"):
            return [f"navigation failed: {reply['errorText']}"]
        self.devtools.wait_for("Page.loadEventFired")
        # Lazy images load only when scrolled to: make them load now, wait for all, let
        # late scripts settle, then read the events gathered meanwhile.
        broken = self.evaluate(BROKEN_IMAGES_JS)
        problems = [f"image does not load: {src}" for src in broken]
        return problems + page_errors(self.devtools.events, url)

    def screenshot(self, path: Path) -> None:
        """A full-page PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call(
            "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


BROKEN_IMAGES_JS = """
(async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null :
    new Promise(done => { img.onload = img.onerror = done; })));
  await new Promise(done => setTimeout(done, 300));
  const local = img => new URL(img.currentSrc || img.src).hostname === "127.0.0.1";
  return images.filter(img => img.naturalWidth === 0 && local(img))
    .map(img => img.currentSrc || img.src);
})()
"""

CONTENT_JS = """
(() => {
  const main = document.querySelector("main") || document.body;
  return {
    figures: Array.from(main.querySelectorAll("img")).filter(img => img.naturalWidth > 0).length,
    tables: main.querySelectorAll("table").length,
  };
})()
"""


def is_local(url: str | None) -> bool:
    """Whether a resource is the book's own: served locally, not the browser's favicon probe.

    External resources (MathJax's CDN) cannot load here and are not the book's to fix.
    Browsers ask every site for /favicon.ico unasked; the book declares no favicon.
    """
    parts = urlsplit(url or "")
    return parts.hostname in (None, "127.0.0.1") and parts.path != "/favicon.ico"


def page_errors(events: list[dict], url: str) -> list[str]:
    """JavaScript exceptions, console errors and failed local loads among ``events``."""
    problems = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            problems.append(f"JavaScript exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            text = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            problems.append(f"console error: {text}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            if is_local(entry.get("url")):
                problems.append(f"{entry['source']} error: {entry['text']} {entry.get('url', '')}")
    return problems


@pytest.fixture(scope="session")
def page(chromium: str, tmp_path_factory) -> Page:
    """A tab in a fresh headless Chromium, closed at the end of the session."""
    devtools = DevTools(chromium, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield Page(devtools)
    finally:
        devtools.close()


# --- links, from the HTML files ---------------------------------------------------------------


class LinkParser(HTMLParser):
    """Collects the ids of a page and the targets of its links and resources."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.refresh = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) and tag in ("a", "link", "img", "script", "iframe", "source"):
                self.links.append(attrs[key])
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            self.refresh = True
            self.links.append((attrs.get("content") or "").partition("url=")[2])


@functools.cache
def parse(path: Path) -> LinkParser:
    parser = LinkParser()
    parser.feed(path.read_text(encoding="utf8", errors="replace"))
    return parser


def book_pages(html_dir: Path) -> list[Path]:
    """Every HTML page of the book, theme assets and copied sources left out."""
    skip = {"_static", "_sources", "_images", "_sphinx_design_static"}
    return sorted(
        p for p in html_dir.rglob("*.html") if not skip & set(p.relative_to(html_dir).parts)
    )


def broken_links(page: Path, html_dir: Path) -> list[str]:
    """Internal links of ``page`` whose file or anchor does not exist."""
    problems = []
    for link in parse(page).links:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or link == "#":
            continue  # external (http:, mailto:, javascript:) or a script hook
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(html_dir.resolve()) or not target.exists():
            problems.append(f"{link}: no such file")
        elif parts.fragment and target.suffix == ".html":
            if unquote(parts.fragment) not in parse(target).ids:
                problems.append(f"{link}: no anchor #{parts.fragment}")
    return problems


# --- the checks -------------------------------------------------------------------------------


def test_internal_links_resolve(html_dir: Path):
    pages = book_pages(html_dir)
    assert any(p.name == "intro.html" for p in pages)
    problems = {
        str(p.relative_to(html_dir)): bad for p in pages if (bad := broken_links(p, html_dir))
    }
    assert not problems, json.dumps(problems, indent=2)


def test_every_page_loads_without_errors(html_dir: Path, server: str, page: Page):
    problems = {}
    for path in book_pages(html_dir):
        if parse(path).refresh:
            continue  # a redirect stub (index.html): its target is checked as a page
        relative = path.relative_to(html_dir).as_posix()
        if found := page.open(server + relative):
            problems[relative] = found
    assert not problems, json.dumps(problems, indent=2)


def test_results_page_shows_a_figure_and_a_table(html_dir: Path, server: str, page: Page):
    screenshots = html_dir.parent / "screenshots"
    assert page.open(server + INTRO_PAGE) == []
    page.screenshot(screenshots / "intro.png")
    assert (html_dir / RESULTS_PAGE).exists(), f"no {RESULTS_PAGE} in the built book"
    assert page.open(server + RESULTS_PAGE) == []
    page.screenshot(screenshots / "results.png")
    content = page.evaluate(CONTENT_JS)
    assert content["figures"] >= 1, "the results page shows no figure"
    assert content["tables"] >= 1, "the results page shows no table"
