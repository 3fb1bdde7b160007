"""Headless Chromium for the browser tests (``test_browser_site.py``, ``test_browser_lab.py``).

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, or ``$BNLIB_CHROMIUM``) driven by the
``playwright`` Python package; ``playwright install`` (which downloads a browser of its own) is never
needed. Where either is missing the tests skip and say which; with ``BNLIB_REQUIRE_BROWSER=1`` (set
by ``.ci/run``) they fail instead.

Every page a test opens is watched (:class:`Watch`): a console error, an uncaught exception, a
request to any host but this machine (it is aborted, so nothing leaves it) and a local request that
fails or answers 400 or more are all recorded, and the tests fail on any of them.
"""

import contextlib
import functools
import html.parser
import http.server
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path(os.environ.get("BNLIB_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("BNLIB_REQUIRE_BROWSER") == "1"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Headless as root (so no sandbox), and none of Chromium's own traffic (updates, sync, metrics).
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
]


def unavailable(reason: str) -> None:
    """Skip the calling test because the browser cannot run here, or fail where CI requires it."""
    if REQUIRED:
        pytest.fail(f"{reason} (BNLIB_REQUIRE_BROWSER=1: the browser tests must run)")
    pytest.skip(reason)


def sync_playwright():
    """Playwright's synchronous entry point, once Chromium and the package are both found."""
    if not CHROMIUM.exists():
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set BNLIB_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright as entry
    except ImportError:
        unavailable("the playwright package is not installed (python3 -m pip install -r requirements-dev.txt)")
    return entry


class Watch:
    """What the pages of one browser context did that no page may do, as readable lines."""

    def __init__(self):
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.external_requests: list[str] = []
        self.failed_requests: list[str] = []

    def route(self, route) -> None:
        """Let requests to this machine through; abort and record every other one."""
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.external_requests.append(url)
            route.abort()

    def attach(self, page) -> None:
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on("requestfailed", lambda request: self._failed(request, request.failure))
        page.on("response", lambda response: response.status >= 400 and self._failed(response.request, response.status))

    def _console(self, page, message) -> None:
        if message.type == "error":
            self.console_errors.append(f"{page.url}: {message.text} ({message.location.get('url', '')})")

    def _failed(self, request, why) -> None:
        # net::ERR_ABORTED is the page cancelling its own request (a poll stopped when its tab
        # closes, a navigation), not a request the server failed.
        if urlsplit(request.url).hostname in LOCAL_HOSTS and why != "net::ERR_ABORTED":
            self.failed_requests.append(f"{request.method} {request.url}: {why}")

    def take(self) -> list[str]:
        """Everything recorded since the last call, one line each (empty if the pages behaved)."""
        problems = [
            *(f"console error: {e}" for e in self.console_errors),
            *(f"uncaught exception: {e}" for e in self.page_errors),
            *(f"request to another host: {e}" for e in self.external_requests),
            *(f"failed local request: {e}" for e in self.failed_requests),
        ]
        for kept in (self.console_errors, self.page_errors, self.external_requests, self.failed_requests):
            kept.clear()
        return problems


@contextlib.contextmanager
def chromium(viewport: dict | None = None) -> Iterator[tuple[object, Watch]]:
    """A fresh headless Chromium (its own throw-away profile) as ``(context, watch)``; every page
    of the context is watched. Closed, profile deleted, on exit."""
    entry = sync_playwright()
    with tempfile.TemporaryDirectory(prefix="bnlib-chromium-") as profile, entry() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
            viewport=viewport or {"width": 1280, "height": 900},
        )
        context.set_default_timeout(60_000)  # no wait of a test's own may hang: 60 s at most
        watch = Watch()
        context.route("**/*", watch.route)
        context.on("page", watch.attach)
        for page in context.pages:  # the persistent context opens with one blank page
            watch.attach(page)
        try:
            yield context, watch
        finally:
            context.close()


class _Anchors(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.found.update(value for key, value in attrs if key in ("id", "name") and value)


def anchors(page: str) -> set[str]:
    """The ``id`` and ``name`` attributes of an HTML page: the fragments a link to it may name."""
    parser = _Anchors()
    parser.feed(page)
    return parser.found


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port) from a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
