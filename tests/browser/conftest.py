"""Browser tests: Playwright driving Debian's Chromium (``/usr/bin/chromium``) against the
real server in a subprocess.

Chromium comes from Debian's ``chromium`` package, never from ``playwright install`` (a
browser download fails on these machines). When it is missing and the suite runs as
root, the first browser test installs it (``apt-get update && apt-get install -y
chromium``; about a minute), so CI, which runs as root on a clean Debian, gets it without
a step of its own. Without Chromium or Playwright the browser tests are skipped with a
loud banner, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ADMIN_KEY, ROOT, _in_ci
from tests.support.server import running_server

CHROMIUM = Path(os.environ.get("QUALITYAPI_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("QUALITYAPI_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
# As the probe started it: as root (no sandbox), and without the background services
# that would try to reach Google's hosts from a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
_PROBLEMS: list[str] = []


def _install_chromium() -> str | None:
    """Installs Debian's chromium when missing; returns why not, or None when it is there."""
    if CHROMIUM.exists():
        return None
    if os.geteuid() != 0:
        return f"{CHROMIUM} is missing; install Debian's chromium: sudo apt-get install -y chromium"
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            done = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=900, check=False
            )
        except subprocess.TimeoutExpired:
            return f"{' '.join(cmd)} timed out"
        if done.returncode != 0:
            return f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-1500:]}"
    return None if CHROMIUM.exists() else f"apt-get installed chromium but {CHROMIUM} is missing"


def _unavailable(message: str) -> None:
    message = f"browser tests cannot run: {message}"
    if _in_ci():
        pytest.fail(f"FAIL (CI=true): {message}", pytrace=False)
    if message not in _PROBLEMS:
        _PROBLEMS.append(message)
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for message in _PROBLEMS:
        terminalreporter.section("BROWSER TESTS NOT RUN", sep="!", red=True, bold=True)
        terminalreporter.write_line(message, red=True, bold=True)


# Module scope, not session: Playwright's sync API keeps an event loop running in this
# thread while it is open, and every async test after it would fail to start its own.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    problem = _install_chromium()
    if problem is not None:
        _unavailable(problem)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Server:
    base: str
    http: httpx.Client
    backend: str
    outside: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The real server (scheduler on: the scanner turns clocks red) on a database of its own."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('browser') / 'board.db'}"
    else:
        pg = request.getfixturevalue("postgres")
        url = pg.create_database(f"browser_{request.module.__name__.rsplit('.', 1)[-1]}")
    env = {
        "QUALITYAPI_DATABASE_URL": url,
        "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "QUALITYAPI_LOG_LEVEL": "warning",
        "QUALITYAPI_SCHEDULER_ENABLED": "true",
    }
    with (
        running_server(env, timeout=60) as (base, _),
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http,
    ):
        yield Server(base=base, http=http, backend=request.param)


def _local(url: str, host: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or parts.netloc == host


@pytest.fixture
def page(browser: Any, server: Server, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (empty localStorage) cut off from everything but the
    server: any other request that reaches the network is aborted, as on a machine with
    no outside network. The test fails if the page asked for anything elsewhere, unless
    the page's own Content-Security-Policy stopped it inside the browser (Chromium reports
    those as requests that failed with ``csp``: nothing was sent)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    asked: list[str] = []
    escaped: list[str] = []
    stopped_by_policy: list[str] = []

    def guard(route: Any) -> None:
        if _local(route.request.url, server.host):
            route.continue_()
        else:
            escaped.append(route.request.url)
            route.abort()

    def failed(req: Any) -> None:
        if req.failure == "csp":
            stopped_by_policy.append(req.url)

    context.route("**/*", guard)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("request", lambda r: None if _local(r.url, server.host) else asked.append(r.url))
    page.on("requestfailed", failed)
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = request.node.name.replace("/", "_").replace("[", "-").rstrip("]")
        try:
            # The viewport only: ReDoc's full page is tens of thousands of pixels tall.
            page.screenshot(path=str(ARTIFACTS / f"{name}-final.png"))
        finally:
            context.close()
    left = [url for url in asked if url not in stopped_by_policy]
    assert escaped == [] and left == [], f"requests for outside 127.0.0.1: {escaped or left}"


def shot(page: Any, request: pytest.FixtureRequest, label: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name.replace("/", "_").replace("[", "-").rstrip("]")
    path = ARTIFACTS / f"{name}-{label}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
