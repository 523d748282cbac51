"""Self-registration: valid sign-ups, and every invalid input re-rendered with nothing written."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from bounty.accounts.models import MembershipStatus, Organization, OrgKind, Role, User
from bounty.signals import organization_saved

from ..factories import create_org, create_user, make_uscc
from .helpers import STRONG, audit_actions, field_block, mailed_link, register, row_counts


def form_data(**overrides) -> dict:
    data = {
        "name": "陈工程师",
        "email": "chen@lock-maker.cn",
        "password": STRONG,
        "password2": STRONG,
        "kind": "enterprise",
        "org_name": "温州瓯海智能锁具有限公司",
        "uscc": make_uscc(OrgKind.enterprise),
        "region": "浙江省温州市瓯海区",
        "contact_name": "陈工",
        "contact_phone": "0577-86001234",
        "expertise": "",
        "keywords": "",
    }
    data.update(overrides)
    return data


def test_register_page_offers_only_enterprise_and_institute(client, db):
    html = client.get("/accounts/register").get_data(as_text=True)
    options = re.findall(r'<option[^>]*value="([^"]+)"', html)
    assert options == ["enterprise", "institute"]


def test_enterprise_registers_with_a_new_unverified_organisation(client, db):
    data = form_data(email="Chen@Lock-Maker.CN", uscc=form_data()["uscc"].lower())
    response = client.post("/accounts/register", data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/accounts/login"
    assert row_counts(db)[0] == 0  # nothing until the mailed link is followed
    assert "请查收邮件" in client.get("/accounts/login").get_data(as_text=True)
    response = client.get(urlsplit(mailed_link(db, "chen@lock-maker.cn")).path)
    assert response.status_code == 302
    user = db.session.execute(sa.select(User)).scalar_one()
    assert user.email == "chen@lock-maker.cn"
    assert user.role == Role.enterprise
    assert user.membership == MembershipStatus.active
    org = user.organization
    assert org.uscc == data["uscc"].upper()
    assert org.kind == OrgKind.enterprise and not org.is_verified
    assert org.contact_phone == "0577-86001234"
    assert audit_actions(db) == ["register_organization", "register"]
    # Logged in straight away, told the organisation awaits verification.
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "陈工程师" in page and "待认证" in page


def test_institute_registers_with_expertise_and_signal(client, db):
    seen = []

    def receiver(sender, **kwargs):
        seen.append((sender.name, kwargs["actor"].email))

    data = form_data(kind="institute", org_name="温州大学激光与光电智能制造研究院",
                     uscc=make_uscc(OrgKind.institute), email="li@wzu.edu.cn",
                     expertise="超快激光精密加工、光电材料表面处理", keywords="激光 光电材料")
    with organization_saved.connected_to(receiver):
        assert register(client, db, data).status_code == 302
    org = db.session.execute(sa.select(Organization)).scalar_one()
    assert org.kind == OrgKind.institute
    assert org.expertise == "超快激光精密加工、光电材料表面处理"
    assert org.keywords == "激光 光电材料"
    assert org.users[0].role == Role.institute
    assert seen == [("温州大学激光与光电智能制造研究院", "li@wzu.edu.cn")]


def _assert_refused(client, db, data, field, message, status=422):
    before = row_counts(db)
    response = client.post("/accounts/register", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in field_block(html, field), html
    # Everything typed is still there (passwords are never echoed back).
    for name in ("name", "email", "org_name", "uscc", "contact_phone"):
        assert f'value="{data[name]}"' in html or f'value="{data[name].upper()}"' in html
    assert row_counts(db) == before
    return html


@pytest.mark.parametrize("uscc,message", [
    ("91330300MA2ABC", "统一社会信用代码应为 18 位"),
    ("911100008O2100433B", "不是合法字符"),
    ("914403001922038217", "校验位不正确"),
    ("12100000400000624D", "与所选单位类型“企业”不符"),  # 清华大学 registered as an enterprise
    ("", "请填写统一社会信用代码"),
])
def test_bad_uscc(client, db, uscc, message):
    _assert_refused(client, db, form_data(uscc=uscc), "uscc", message)


def test_enterprise_code_chosen_as_institute(client, db):
    _assert_refused(client, db, form_data(kind="institute", uscc="914403001922038216"),
                    "uscc", "与所选单位类型“高校 / 科研院所”不符")


def test_a_registered_email_gets_the_same_answer_and_its_owner_is_told(client, db):
    """The form never tells whether an address has an account: the owner is mailed."""
    create_user(Role.enterprise, email="chen@lock-maker.cn")
    before = row_counts(db)
    taken = client.post("/accounts/register", data=form_data(email="CHEN@Lock-Maker.cn"))
    taken_page = client.get("/accounts/login").get_data(as_text=True)
    free = client.post("/accounts/register", data=form_data(email="new@lock-maker.cn"))
    free_page = client.get("/accounts/login").get_data(as_text=True)
    assert taken.status_code == free.status_code == 302
    assert taken.headers["Location"] == free.headers["Location"]
    def strip(page, email):
        # The CSRF token carries a timestamp: two pages a second apart differ there.
        page = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', page)
        return page.replace(email, "")
    assert strip(taken_page, "chen@lock-maker.cn") == strip(free_page, "new@lock-maker.cn")
    assert "该邮箱已注册" not in taken_page
    assert row_counts(db) == before
    assert mailed_link(db, "chen@lock-maker.cn").endswith("/accounts/login")
    assert "/accounts/register/confirm/" in mailed_link(db, "new@lock-maker.cn")


def test_a_link_for_an_address_registered_meanwhile_is_refused(client, db):
    client.post("/accounts/register", data=form_data(email="chen@lock-maker.cn"))
    link = urlsplit(mailed_link(db, "chen@lock-maker.cn")).path
    create_user(Role.enterprise, email="chen@lock-maker.cn")
    response = client.get(link, follow_redirects=True)
    assert "该邮箱已注册" in response.get_data(as_text=True)  # only the mailbox owner sees it


def test_a_forged_or_expired_link_is_refused(client, db, app, time_machine):
    time_machine.move_to("2026-05-01 10:00:00+08:00", tick=False)
    client.post("/accounts/register", data=form_data(email="chen@lock-maker.cn"))
    link = urlsplit(mailed_link(db, "chen@lock-maker.cn")).path
    forged = client.get(link[:-3] + "abc", follow_redirects=True).get_data(as_text=True)
    assert "注册链接无效" in forged
    time_machine.shift(app.config["BOUNTY_REGISTRATION_LINK_SECONDS"] + 60)
    expired = client.get(link, follow_redirects=True).get_data(as_text=True)
    assert "注册链接已过期" in expired
    assert row_counts(db)[0] == 0


@pytest.mark.parametrize("password,message", [
    ("Short-1", "密码至少需要 10 个字符"),
    ("password123", "该密码过于常见"),
])
def test_weak_password(client, db, password, message):
    _assert_refused(client, db, form_data(password=password, password2=password),
                    "password", message)


def test_mismatched_passwords(client, db):
    _assert_refused(client, db, form_data(password2=STRONG + "x"), "password2",
                    "两次输入的密码不一致")


def test_missing_csrf_token(csrf_app, db):
    client = csrf_app.test_client()
    before = row_counts(db)
    data = form_data()
    response = client.post("/accounts/register", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "缺少安全令牌" in html
    assert f'value="{data["org_name"]}"' in html and f'value="{data["uscc"]}"' in html
    assert row_counts(db) == before


def test_with_csrf_token_registration_works(csrf_app, db):
    client = csrf_app.test_client()
    html = client.get("/accounts/register").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = register(client, db, form_data(csrf_token=token))
    assert response.status_code == 302
    assert row_counts(db)[0] == 1


@pytest.mark.parametrize("kind", ["government", "platform", "reviewer", "admin"])
def test_forged_kind_is_refused(client, db, kind):
    before = row_counts(db)
    response = client.post("/accounts/register", data=form_data(kind=kind))
    assert response.status_code == 422
    assert "不是有效的选择" in field_block(response.get_data(as_text=True), "kind")
    assert row_counts(db) == before


def test_forged_role_field_is_ignored(client, db):
    register(client, db, form_data(role="admin"))
    assert db.session.execute(sa.select(User.role)).scalar_one() == Role.enterprise


def test_existing_code_of_another_kind_is_refused(client, db):
    # A platform organisation may carry a 91 code; nobody self-registers into it.
    platform = create_org(OrgKind.platform)
    _assert_refused(client, db, form_data(uscc=platform.uscc), "uscc", "单位类型与所选不符")


def test_register_service_refuses_staff_kinds(db):
    from bounty.accounts import services
    from bounty.errors import DomainError

    data = services.RegistrationData(name="某", email="x@gov.cn", password=STRONG,
                                     org_name="科技局", kind=OrgKind.government,
                                     uscc=make_uscc(OrgKind.government))
    with pytest.raises(DomainError) as info:
        services.register(data)
    assert info.value.field == "kind"
    assert row_counts(db) == (0, 0, 0)


def test_a_code_pasted_with_spaces_or_full_width_is_cleaned(client, db):
    code = make_uscc(OrgKind.enterprise)
    pasted = f" {code[:4]} {code[4:8]}\u3000{code[8:12]} {code[12:].lower()} ".replace(
        code[0], chr(ord(code[0]) + 0xFEE0), 1)  # and a full-width first digit
    assert register(client, db, form_data(uscc=pasted)).status_code == 302
    assert db.session.execute(sa.select(Organization)).scalar_one().uscc == code


def test_each_kind_is_told_what_it_may_do_before_verification(client, db):
    data = form_data(kind="institute", uscc=make_uscc(OrgKind.institute), org_name="温州研究院")
    response = register(client, db, data)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "揭榜方案草稿" in html and "榜单草稿" not in html


def test_errors_are_tied_to_their_fields_and_summed_up_first(client, db):
    html = client.post("/accounts/register", data=form_data(uscc="91330300MA2ABC")).get_data(
        as_text=True)
    block = field_block(html, "uscc")
    assert 'aria-invalid="true"' in block
    assert re.search(r'aria-describedby="(uscc-help )?uscc-error"', block)
    assert '<p class="error" id="uscc-error">' in block
    summary = html[html.index('class="error-summary"'):html.index('<h1')]
    assert "autofocus" in summary and 'href="#uscc"' in summary
    assert 'aria-invalid' not in field_block(html, "name")
