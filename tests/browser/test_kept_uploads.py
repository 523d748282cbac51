"""In Chromium: the 首台(套) application with its four documents fails on one field; the
page comes back with the four files kept (each with a remove box), and the corrected
application goes through without choosing them again."""

from __future__ import annotations

import pytest

from bounty.accounts.models import OrgKind, Role
from bounty.certification import services as cert
from bounty.challenges.models import Category

from ..factories import DEFAULT_PASSWORD, create_org, create_user
from ..registry.helpers import PDF_BYTES, completed_challenge

DOCUMENTS = {
    "发明专利证书": "专利证书.pdf",
    "具备资质的检测机构出具的检测报告": "检测报告.pdf",
    "查新报告": "查新报告.pdf",
    "用户使用报告": "用户报告.pdf",
}


@pytest.fixture
def live_server_config() -> dict:
    return {"PASSWORD_HASH_METHOD": "scrypt:1024:8:1"}


@pytest.fixture
def completed(live_server) -> tuple[int, str]:
    with live_server.app.app_context():
        org = create_org(OrgKind.enterprise, name="温州瓯海精锁科技有限公司")
        owner = create_user(Role.enterprise, organization=org, email="chen@jingsuo.example.com")
        challenge, _owner, _winner = completed_challenge(
            owner, category=Category.first_set, title="智能锁体精密冲压在线视觉检测装备")
        return challenge.id, owner.email


def test_a_failed_application_keeps_its_four_documents(live_server, page, completed,
                                                        artifacts_dir):
    challenge_id, email = completed
    base = live_server.url
    page.goto(base + "/accounts/login")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(DEFAULT_PASSWORD)
    page.locator("main form").get_by_role("button", name="登录").click()
    page.wait_for_url(base + "/**")

    page.goto(f"{base}/challenges/{challenge_id}/certification")
    page.get_by_label("产品单价（元）").fill("1000")  # under the floor: refused
    page.locator('input[name="indicators-0-name"]').fill("缺陷检出率")
    page.locator('input[name="indicators-0-own_value"]').fill("99.6%")
    page.locator('input[name="indicators-0-domestic_value"]').fill("98%")
    for label, name in DOCUMENTS.items():
        page.get_by_label(label, exact=True).set_input_files(
            {"name": name, "mimeType": "application/pdf", "buffer": PDF_BYTES})
    page.get_by_role("button", name="提交申请").click()

    page.wait_for_selector(".kept-files")
    assert "单价不得低于" in page.locator(".has-error").first.inner_text()
    kept = page.locator(".kept-files li")
    assert kept.count() == 4
    for name in DOCUMENTS.values():
        assert page.locator(".kept-files", has_text=name).count() == 1
    assert page.locator('.kept-files input[type="checkbox"]').count() == 4
    page.screenshot(path=str(artifacts_dir / "certification-form-kept-files.png"),
                    full_page=True)

    # Corrected, no file chosen again, except a newer user report that replaces its own.
    page.get_by_label("产品单价（元）").fill("800000")
    page.get_by_label("用户使用报告", exact=True).set_input_files(
        {"name": "用户报告-盖章版.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES})
    page.get_by_role("button", name="提交申请").click()
    page.wait_for_url(f"{base}/certifications/**")
    assert "首台（套）认定申请已提交" in page.locator(".flashes").inner_text()

    with live_server.app.app_context():
        from bounty.challenges.models import Challenge
        from bounty.extensions import db

        application = cert.application_for(db.session.get(Challenge, challenge_id))
        names = sorted(doc.original_name for doc in application.evidence.values())
    assert names == sorted(["专利证书.pdf", "检测报告.pdf", "查新报告.pdf", "用户报告-盖章版.pdf"])
