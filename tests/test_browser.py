"""The built book, as a reader's browser sees it.

Every page is opened in headless Chromium, driven through the Chrome DevTools Protocol
over a pipe (``--remote-debugging-pipe``: JSON messages separated by NUL bytes on file
descriptors 3 and 4), so nothing beyond the standard library is needed. A page fails on
a JavaScript error, a console error, a local resource or image that does not load; the
results page must show a figure and a table. Links between pages are checked from the
HTML files themselves, anchors included.

The book is built once with the smoke profile into a temporary folder
(``--book-dir``), so the repository's ``book/chapters/`` and ``_build/`` (the published
cpu book) are never touched; ``HYBRIDLIB_BOOK=existing`` checks the book already in
``_build/html`` instead, and ``HYBRIDLIB_BOOK=FOLDER`` the book whose HTML is in FOLDER.
Screenshots of every page go to ``$HYBRIDLIB_SCREENSHOTS`` (default: a ``screenshots``
folder next to the checked ``html`` folder).
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
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
def html_dir(tmp_path_factory) -> Path:
    """The built HTML book: built now with the smoke profile in a temporary folder, the
    existing one of the repository (``HYBRIDLIB_BOOK=existing``), or one built elsewhere
    (``HYBRIDLIB_BOOK=/tmp/book/_build/html``, its ``html`` folder)."""
    wanted = os.environ.get("HYBRIDLIB_BOOK")
    html = REPO_ROOT / "_build" / "html" if wanted in (None, "", "existing") else Path(wanted)
    if wanted in (None, ""):
        book_dir = tmp_path_factory.mktemp("smoke-book")
        html = book_dir / "_build" / "html"
        command = [sys.executable, "-m", "hybridlib.book.pipeline", "--profile", "smoke",
                   "--book-dir", str(book_dir)]
        result = subprocess.run(command, cwd=REPO_ROOT, timeout=BUILD_TIMEOUT_S)
        assert result.returncode == 0, f"{' '.join(command)} failed (exit {result.returncode})"
    if not (html / "index.html").exists():
        pytest.fail(f"no built book at {html}: run python -m hybridlib.book.pipeline first")
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
        if getattr(self, "mathjax", None):
            self._serve_until_loaded()
        else:
            self.devtools.wait_for("Page.loadEventFired")
        # Lazy images load only when scrolled to: make them load now, wait for all, let
        # late scripts settle, then read the events gathered meanwhile.
        broken = self.evaluate(BROKEN_IMAGES_JS)
        problems = [f"image does not load: {src}" for src in broken]
        return problems + page_errors(self.devtools.events, url)

    def _serve_until_loaded(self) -> None:
        """Wait for the load event, answering MathJax's paused requests from disk."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        loaded = False
        while time.monotonic() < deadline:
            paused = [e for e in self.devtools.events if e.get("method") == "Fetch.requestPaused"]
            for event in paused:
                self.devtools.events.remove(event)
                self._fulfil(event["params"])
            if any(e.get("method") == "Page.loadEventFired" for e in self.devtools.events):
                loaded = True
            if loaded and not paused:
                # late component loads (fonts, extensions) after the load event
                end = time.monotonic() + 1.0
                while time.monotonic() < end:
                    try:
                        event = self.devtools._read(end)
                    except TimeoutError:
                        break
                    if event.get("method") == "Fetch.requestPaused":
                        self._fulfil(event["params"])
                    else:
                        self.devtools.events.append(event)
                return
            try:
                self.devtools.events.append(self.devtools._read(time.monotonic() + 0.5))
            except TimeoutError:
                pass
        raise TimeoutError("the page did not load in time")

    def _fulfil(self, params: dict) -> None:
        relative = params["request"]["url"].split("?")[0][len(MATHJAX_CDN) :]
        path = self.mathjax / relative
        if path.is_file():
            body = base64.b64encode(path.read_bytes()).decode()
            headers = [{"name": "Content-Type", "value": "application/javascript"}]
            self.call("Fetch.fulfillRequest", requestId=params["requestId"], responseCode=200,
                      responseHeaders=headers, body=body)
        else:
            self.call("Fetch.failRequest", requestId=params["requestId"], errorReason="Failed")

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


# What a reader sees once MathJax has run, at 1280 px: tables wider than the text column
# or scrolling inside their box, tables without a numbered caption or with a snake_case
# column header, images outside a numbered figure, with a file path as alt text, blurred
# on a high-density screen or with their smallest text (MIN_FONT_PT at PNG_DPI) shown below
# 9 pt (12 CSS pixels); and TeX left raw.
LAYOUT_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await new Promise(done => setTimeout(done, 300));
  const main = document.querySelector("main article") || document.querySelector("main")
    || document.body;
  const column = main.getBoundingClientRect().width;
  const problems = [];
  main.querySelectorAll("table").forEach((table, i) => {
    const width = table.getBoundingClientRect().width;
    const caption = table.querySelector("caption");
    const name = caption ? `table "${caption.textContent.trim().slice(0, 50)}"` : `table ${i + 1}`;
    if (width > column + 1) problems.push(`${name} is ${Math.round(width)} px wide, `
      + `the text column ${Math.round(column)} px`);
    const box = table.closest(".output, .pst-scrollable-table-container, .table-wrapper");
    if (box && box.scrollWidth > box.clientWidth + 1)
      problems.push(`${name} scrolls: ${box.scrollWidth} px in a ${box.clientWidth}-px box`);
    if (!caption || !caption.querySelector(".caption-number"))
      problems.push(`${name} has no numbered caption`);
    table.querySelectorAll("thead th").forEach(th => {
      const snake = th.textContent.match(/\b[A-Za-z0-9]+_[A-Za-z0-9_]+\b/);
      if (snake) problems.push(`${name}: column header "${th.textContent.trim()}" in snake_case`);
    });
  });
  main.querySelectorAll("img").forEach(img => {
    const file = img.src.split("/").pop();
    const shown = img.getBoundingClientRect().width;
    if (img.naturalWidth > 0 && shown > 0) {
      const text = __TEXT_PX__ * shown / img.naturalWidth;
      if (text < 12) problems.push(`figure ${file}: its smallest text shows at `
        + `${text.toFixed(1)} px, below 9 pt (12 px)`);
      if (img.naturalWidth < 1.9 * shown) problems.push(`figure ${file} is not sharp: `
        + `${img.naturalWidth} pixels shown on ${Math.round(shown)}`);
    }
    const figure = img.closest("figure");
    if (!figure || !figure.querySelector("figcaption .caption-number"))
      problems.push(`figure ${file} has no numbered caption`);
    // A description has words; a file path or a hash has none and no spaces.
    const alt = (img.getAttribute("alt") || "").trim();
    if (!/\s/.test(alt) || /\.(png|jpe?g|svg|gif)$/i.test(alt))
      problems.push(`figure ${file}: alt text "${alt}" does not say what it shows`);
  });
  // Code may hold TeX for matplotlib labels; only prose and outputs must show none.
  const prose = main.cloneNode(true);
  prose.querySelectorAll("pre, code, script, style, mjx-container").forEach(n => n.remove());
  const text = prose.textContent;
  for (const raw of [/\$[^$\n]*\\[a-zA-Z]+[^$\n]*\$/, /\\\(/, /\\\[/]) {
    const found = text.match(raw);
    if (found) problems.push(`raw TeX left visible: ${found[0].slice(0, 60)}`);
  }
  const wants = !!document.querySelector('script[src*="mathjax"], script[src*="MathJax"]');
  return {problems, wants, mathjax: !!(window.MathJax && MathJax.typesetPromise)};
})()
"""


def layout_js() -> str:
    """:data:`LAYOUT_JS` with the pixels of a figure's smallest text in its PNG."""
    from hybridlib.book.plots import MIN_FONT_PT, PNG_DPI

    return LAYOUT_JS.replace("__TEXT_PX__", repr(MIN_FONT_PT / 72 * PNG_DPI))


# At a phone's width: a compact table (the headline and paired tables) fits the column as
# cards whose every value is labelled; any other table that is wider than its box says
# that it scrolls.
PHONE_JS = r"""
(async () => {
  await new Promise(done => setTimeout(done, 300));
  const main = document.querySelector("main article") || document.querySelector("main")
    || document.body;
  const column = main.getBoundingClientRect().width;
  const problems = [];
  let compact = 0;
  main.querySelectorAll("table").forEach((table, i) => {
    const caption = table.querySelector("caption");
    const name = caption ? `table "${caption.textContent.trim().slice(0, 50)}"` : `table ${i + 1}`;
    const box = table.closest(".output, .pst-scrollable-table-container, .table-wrapper");
    if (table.classList.contains("hl-compact")) {
      compact += 1;
      const width = table.getBoundingClientRect().width;
      if (width > column + 1) problems.push(`${name} is ${Math.round(width)} px wide on a `
        + `${Math.round(column)}-px column`);
      const bare = Array.from(table.querySelectorAll("tbody td"))
        .filter(td => !td.getAttribute("data-label")).length;
      if (bare) problems.push(`${name}: ${bare} values without their column's name`);
    } else if (box && box.scrollWidth > box.clientWidth + 1
               && !box.classList.contains("hl-scrolls")) {
      problems.push(`${name} scrolls without saying so`);
    }
  });
  return {problems, compact};
})()
"""
PHONE_WIDTH = 400


def mathjax_dir() -> Path | None:
    """A local MathJax 3 (its ``es5`` folder), to typeset the pages without the network:
    ``$HYBRIDLIB_MATHJAX``, or npm's ``mathjax`` package under ``~/.cache/hybridlib/mathjax``
    (``npm install --prefix ~/.cache/hybridlib/mathjax mathjax@3``)."""
    for candidate in (
        os.environ.get("HYBRIDLIB_MATHJAX"),
        Path.home() / ".cache" / "hybridlib" / "mathjax" / "node_modules" / "mathjax" / "es5",
    ):
        if candidate and (Path(candidate) / "tex-mml-chtml.js").exists():
            return Path(candidate)
    return None


MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/"


def serve_mathjax(page: Page, folder: Path) -> None:
    """Answer the book's requests for MathJax's CDN from ``folder`` (DevTools Fetch)."""
    page.call("Fetch.enable", patterns=[{"urlPattern": MATHJAX_CDN + "*"}])
    page.mathjax = folder


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


def screenshot_dir(html_dir: Path) -> Path:
    return Path(os.environ.get("HYBRIDLIB_SCREENSHOTS") or html_dir.parent / "screenshots")


def test_every_page_reads_well(html_dir: Path, server: str, page: Page):
    """Tables fit the column, figure text stays >= 9 px, every figure has a numbered
    caption, no TeX is left raw after MathJax; a screenshot of every page is kept."""
    folder = mathjax_dir()
    if folder is None:
        message = "no local MathJax (npm install --prefix ~/.cache/hybridlib/mathjax mathjax@3)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    serve_mathjax(page, folder)
    problems = {}
    for path in book_pages(html_dir):
        if parse(path).refresh:
            continue
        relative = path.relative_to(html_dir).as_posix()
        page.open(server + relative)
        found = page.evaluate(layout_js())
        if found["wants"] and not found["mathjax"]:  # pages without math do not load it
            found["problems"].append("MathJax did not load")
        if found["problems"]:
            problems[relative] = found["problems"]
        page.screenshot(screenshot_dir(html_dir) / (relative.replace("/", "_") + ".png"))
    assert not problems, json.dumps(problems, indent=2, ensure_ascii=False)


def test_on_a_phone_the_key_tables_are_cards_and_the_others_say_they_scroll(
        html_dir: Path, server: str, page: Page):
    """At 400 px the headline and paired tables of the results chapter fit as labelled
    cards; every other table that must scroll shows a cue."""
    page.call("Emulation.setDeviceMetricsOverride", width=PHONE_WIDTH, height=800,
              deviceScaleFactor=2, mobile=True)
    problems, compact = {}, {}
    try:
        for path in book_pages(html_dir):
            if parse(path).refresh:
                continue
            relative = path.relative_to(html_dir).as_posix()
            page.open(server + relative)
            found = page.evaluate(PHONE_JS)
            compact[relative] = found["compact"]
            if found["problems"]:
                problems[relative] = found["problems"]
            page.screenshot(screenshot_dir(html_dir) / "phone" / (relative.replace("/", "_")
                                                                  + ".png"))
    finally:
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)
    assert compact.get(RESULTS_PAGE, 0) >= 2, "the results chapter has no compact table"
    assert not problems, json.dumps(problems, indent=2, ensure_ascii=False)


def test_the_banner_names_the_profile_of_an_unpublished_book(html_dir: Path):
    from hybridlib.book.sphinx_profile import BANNER_CLASS, MARKER

    record = json.loads((html_dir / MARKER).read_text())
    intro = (html_dir / INTRO_PAGE).read_text(encoding="utf8")
    assert (BANNER_CLASS in intro) == (not record["published"])


# --- the PDF ------------------------------------------------------------------------------------
def test_the_pdf_holds_every_chapter_and_every_figure(html_dir: Path):
    """The build prints the whole book beside its HTML; the PDF has each page's title, in
    the table of contents' order, and every numbered figure the HTML pages have."""
    import pypdf

    from hybridlib.book.pdf import PDF_NAME

    text = "".join(page.extract_text() or "" for page in pypdf.PdfReader(
        html_dir / PDF_NAME).pages)
    # The PDF's fonts set "fi" and "ff" as ligatures, and lines break anywhere.
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    titles = []
    for page in sorted((html_dir / "book" / "chapters").glob("*.html")):
        # The first h1 is the theme's print header, "<h1>Results</h1>", then the contents.
        match = re.search(r"<h1>(.*?)(?:<a|</h1>)", page.read_text("utf8"), re.S)
        titles.append(re.sub(r"<[^>]+>", "", match.group(1)).strip())
    positions = [text.find(" ".join(t.split()[-4:])) for t in titles]
    assert all(p >= 0 for p in positions), dict(zip(titles, positions))
    assert positions == sorted(positions)  # in the book's order
    caption = re.compile(r'class="caption-number">Fig\. (\d+\.\d+)')
    figures = {n for page in (html_dir / "book").rglob("*.html")
               for n in caption.findall(page.read_text("utf8"))}
    assert figures and figures <= set(re.findall(r"Fig\. (\d+\.\d+)", text))
