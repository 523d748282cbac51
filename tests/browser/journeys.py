"""Walking the demo platform in Chromium as one user: log in, follow the navigation (the
folded menu on a phone), and at every step check the page with axe-core and take a
screenshot.

A step's screenshot goes to test-artifacts/journeys/; with BOUNTY_UPDATE_DOCS=1 to
docs/screenshots/journeys/ as well. Accessibility problems (axe's serious and critical
violations) are collected over the whole walk and reported together at its end, so one
run shows every page's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image  # Pillow comes with fpdf2

from bounty.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "screenshots" / "journeys"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
BLOCKING = ("serious", "critical")
# Demo settings for a live server: a cheap password hash (same code path) and no model.
DEMO_CONFIG = {"PASSWORD_HASH_METHOD": "scrypt:1024:8:1", "BOUNTY_EMBEDDER": "none"}


def _axe():
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:  # pragma: no cover - the test extras pin it
        pytest.fail("axe-playwright-python is not installed: pip install -e '.[test]'")
    return Axe()


def axe_problems(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line per rule."""
    results = _axe().run(page)
    problems = []
    for violation in results.response["violations"]:
        if violation.get("impact") in BLOCKING:
            targets = [" ".join(map(str, node["target"])) for node in violation["nodes"][:3]]
            problems.append(f"{violation['id']} ({violation['impact']}): "
                            f"{violation['help']} -- {', '.join(targets)}")
    return problems


@dataclass
class Walk:
    """One user's walk through the site at one viewport size."""

    page: Any
    base: str
    name: str  # e.g. "enterprise-phone": the screenshots' prefix
    artifacts: Path
    steps: int = 0
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Every resource a page asks for exists (a stylesheet, an icon...).
        self.page.on("response", lambda r: self.problems.append(
            f"{self.name}: {r.request.method} {r.url.removeprefix(self.base)} -> {r.status}")
            if r.status >= 400 and r.request.resource_type != "document" else None)

    @property
    def phone(self) -> bool:
        return self.page.viewport_size["width"] < 600

    def step(self, title: str) -> None:
        """The page is where the journey wanted: check it and photograph it."""
        self.page.wait_for_load_state()
        self.steps += 1
        slug = re.sub(r"[^\w-]+", "-", title).strip("-")
        filename = f"{self.name}-{self.steps:02d}-{slug}.png"
        out = self.artifacts / "journeys"
        out.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(out / filename), full_page=True)
        if os.environ.get("BOUNTY_UPDATE_DOCS"):
            DOCS.mkdir(parents=True, exist_ok=True)
            # 128 colours are plenty for a page and keep docs/ small (about 40 %)
            Image.open(out / filename).convert("RGB").quantize(
                colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE,
            ).save(DOCS / filename, optimize=True)
        url = self.page.url.removeprefix(self.base)
        self.problems += [f"{self.name} step {self.steps} {title} {url}: {p}"
                          for p in axe_problems(self.page)]
        if self.phone:
            self.check_fits_phone(title)
        else:
            header = self.page.locator("header.site-header").bounding_box()
            if header and header["height"] > 90:  # two lines of links at most
                self.problems.append(f"{self.name} step {self.steps} {title}: "
                                     f"header takes {header['height']:.0f}px")

    def check_fits_phone(self, title: str) -> None:
        """Nothing but a table's own scroller is wider than the phone's screen."""
        width = self.page.evaluate("document.documentElement.scrollWidth")
        if width > self.page.viewport_size["width"]:
            self.problems.append(f"{self.name} step {self.steps} {title}: page is {width}px wide")
        # A row's links, buttons and states are in reach without scrolling a table sideways.
        hidden = self.page.evaluate("""w => [...document.querySelectorAll(
                'main table a, main table button, main table .state')]
            .filter(e => e.offsetParent !== null)
            .filter(e => { const r = e.getBoundingClientRect(); return r.right > w + 1; })
            .map(e => e.textContent.trim()).slice(0, 5)""",
                                    self.page.viewport_size["width"])
        if hidden:
            self.problems.append(f"{self.name} step {self.steps} {title}: "
                                 f"off screen to the right in a table: {hidden}")
        menu_open = self.page.locator("details.menu-narrow[open]").count()
        header = self.page.locator("header.site-header").bounding_box()
        if not menu_open and header and header["height"] > 64:
            self.problems.append(f"{self.name} step {self.steps} {title}: "
                                 f"header takes {header['height']:.0f}px")

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def open_menu(self) -> Any:
        """The header's links: the folded menu on a phone (opened first), else the bar."""
        header = self.page.locator("header.site-header")
        if self.phone:
            menu = header.locator("details.menu-narrow")
            if menu.get_attribute("open") is None:
                menu.locator("summary").click()
            return menu
        return header.locator(".menu-wide")

    def nav(self, label: str) -> None:
        """Follow a link of the site's navigation, as a user would."""
        self.open_menu().get_by_role("link", name=label, exact=True).click()
        self.page.wait_for_load_state()

    def login(self, email: str) -> None:
        self.go("/")
        self.nav("登录")
        self.page.get_by_label("邮箱").fill(email)
        self.page.get_by_label("密码").fill(DEMO_PASSWORD)
        self.page.locator("main form").get_by_role("button", name="登录").click()
        self.page.wait_for_load_state()
        assert self.open_menu().get_by_role("button", name="退出").is_visible()

    def logout(self) -> None:
        self.open_menu().get_by_role("button", name="退出").click()
        self.page.wait_for_load_state()

    def heading(self) -> str:
        return self.page.locator("main h1").first.inner_text().strip()


def walk_everywhere(browser: Any, base: str, role: str, artifacts: Path, journey) -> None:
    """Run ``journey(walk)`` at the desktop and at the phone size; fail with the problems of
    both (axe-core's, missing resources, a header too tall, a page too wide)."""
    problems: list[str] = []
    for size, viewport in VIEWPORTS.items():
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                      viewport=viewport)
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            walk = Walk(page, base, f"{role}-{size}", artifacts)
            try:
                journey(walk)
            except Exception:
                page.screenshot(path=str(artifacts / f"FAILED-journey-{role}-{size}.png"),
                                full_page=True)
                raise
            problems += walk.problems
        finally:
            context.close()
    assert not problems, "\n".join(problems)
