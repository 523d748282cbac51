"""Browser-test fixtures: a live bounty server and Debian's headless Chromium driven by Playwright.

Fixtures:
    live_server         a bounty app served by waitress on 127.0.0.1 and a free port, on a
                        fresh SQLite instance folder; has ``.url`` (no trailing slash),
                        ``.app``, ``.port`` and ``.instance`` (a Path)
    live_server_config  dict of extra config for the app; override it in a test module
    browser             one headless Chromium per session (/usr/bin/chromium)
    context / page      a fresh browser context (zh-CN, Asia/Shanghai) and page per test
    artifacts_dir       test-artifacts/ at the repository root, for screenshots
    skip_or_fail        call it with a reason when a component is missing: skips, or
                        fails under CI=true

Playwright's own browsers are never used (``playwright install`` cannot download here).
Without /usr/bin/chromium the browser tests are skipped, or fail under CI=true. A failing
test leaves a screenshot of its page in test-artifacts/.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("BOUNTY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # The network is closed here: keep Chromium from phoning home at every start.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def missing(reason: str) -> None:
    """Skip for a missing component, or fail under CI=true, where nothing may be skipped."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{reason} (CI=true: browser tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    # Keep each phase's report on the item so `page` can tell that its test failed.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@dataclass
class LiveServer:
    url: str
    app: Any
    port: int
    instance: Path


@pytest.fixture
def live_server_config() -> dict[str, Any]:
    """Extra config for the live server's app; override in a module to change it."""
    return {}


@pytest.fixture
def live_server(tmp_path: Path, live_server_config: dict[str, Any]) -> Iterator[LiveServer]:
    """A bounty app on a fresh SQLite instance, served by waitress in a background thread."""
    from waitress import wasyncore
    from waitress.server import create_server

    from bounty import create_app
    from bounty.extensions import db

    instance = tmp_path / "instance"
    instance.mkdir()
    config = {
        "TESTING": True,
        "SECRET_KEY": "browser-tests",
        "BOUNTY_INSTANCE": str(instance),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'bounty.sqlite'}",
        **live_server_config,
    }
    app = create_app(config)
    with app.app_context():
        db.create_all()

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    port = server.effective_port
    thread = threading.Thread(target=server.run, name=f"live-server-{port}", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app, port=port, instance=instance)
    finally:
        # Close every socket from inside the server's own loop, which then ends by itself
        # because its socket map is empty; then stop the worker threads.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=10)
        server.task_dispatcher.shutdown(timeout=10)
        if thread.is_alive():  # pragma: no cover - only if the loop is wedged
            wasyncore.close_all(server._map)
            thread.join(timeout=5)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright's sync API."""
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"{CHROMIUM} not found: install Debian's chromium package")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (cookies, storage) per test, in Chinese and Shanghai time."""
    ctx = browser.new_context(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 900}
    )
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def skip_or_fail():
    """`missing` as a fixture, for tests that check a component of their own."""
    return missing


@pytest.fixture
def artifacts_dir() -> Path:
    """test-artifacts/ at the repository root (git-ignored), for screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(context: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in a fresh context; a screenshot lands in test-artifacts/ if the test fails."""
    pg = context.new_page()
    yield pg
    report = request.node.stash.get(_REPORTS, {}).get("call")
    if report is not None and report.failed and not pg.is_closed():
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        try:
            pg.screenshot(path=str(ARTIFACTS / f"FAILED-{name}.png"), full_page=True)
        except Exception:  # a broken page must not hide the real failure
            pass
