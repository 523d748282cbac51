"""Chromium itself works here and has a font for Chinese, so screenshots are readable."""

import shutil
import subprocess

CJK_FAMILIES = ("Noto Sans CJK", "Noto Serif CJK", "WenQuanYi")


def cjk_font_families() -> list[str]:
    if shutil.which("fc-list") is None:
        return []
    out = subprocess.run(
        ["fc-list", ":lang=zh-cn", "family"], capture_output=True, text=True, check=False
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_chinese_text_renders(page, artifacts_dir, skip_or_fail):
    families = cjk_font_families()
    if not any(name in family for family in families for name in CJK_FAMILIES):
        skip_or_fail("no CJK font (fonts-noto-cjk or fonts-wqy-zenhei): Chinese shows as boxes")
    page.set_content(
        "<!doctype html><html lang='zh-CN'><meta charset='utf-8'><title>揭榜挂帅</title>"
        "<h1 id='t'>揭榜挂帅 · 企业出题、科研院所答题、政府审题</h1>"
        "<p>成套装备关键技术 — 首台(套)装备</p></html>"
    )
    assert page.title() == "揭榜挂帅"
    assert page.inner_text("#t").startswith("揭榜挂帅")
    page.screenshot(path=str(artifacts_dir / "chromium-chinese.png"))
