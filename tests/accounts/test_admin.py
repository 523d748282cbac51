"""Admin pages: verification, user management, and 403 for everyone else."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.accounts import services
from bounty.accounts.models import OrgKind, Role, User
from bounty.challenges import services as challenge_services
from bounty.challenges.models import Category, ChallengeState, Industry, IPTerms
from bounty.errors import PermissionDenied
from bounty.signals import organization_saved
from bounty.timeutil import utcnow

from ..factories import create_org, create_user, make_uscc
from .helpers import STRONG, audit_actions, field_block, row_counts

ADMIN_GETS = ["/accounts/admin/organizations", "/accounts/admin/organizations?filter=unverified",
              "/accounts/admin/users", "/accounts/admin/users/new"]


def admin_posts(org_id: int, user_id: int) -> list[str]:
    return [f"/accounts/admin/organizations/{org_id}/verify", "/accounts/admin/users/new",
            f"/accounts/admin/users/{user_id}/disable", f"/accounts/admin/users/{user_id}/enable"]


@pytest.mark.parametrize("role", [Role.enterprise, Role.institute, Role.reviewer])
def test_non_admins_get_403(db, login_as, role):
    target_org = create_org(OrgKind.enterprise, verified=False)
    target = create_user(Role.enterprise, organization=target_org)
    client = login_as(create_user(role))
    for url in ADMIN_GETS:
        assert client.get(url).status_code == 403, url
    before = row_counts(db)
    for url in admin_posts(target_org.id, target.id):
        assert client.post(url, data={"email": "x@gov.cn"}).status_code == 403, url
    assert row_counts(db) == before
    db.session.refresh(target_org)
    db.session.refresh(target)
    assert not target_org.is_verified and not target.is_disabled


def test_anonymous_is_sent_to_login(client, db):
    for url in ADMIN_GETS:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login" in response.headers["Location"]


def test_admin_lists_and_filters_organisations(db, login_as):
    create_org(OrgKind.enterprise, name="已认证的眼镜公司")
    create_org(OrgKind.institute, name="待认证的研究院", verified=False)
    client = login_as(create_user(Role.admin))
    everything = client.get("/accounts/admin/organizations").get_data(as_text=True)
    assert "已认证的眼镜公司" in everything and "待认证的研究院" in everything
    pending = client.get("/accounts/admin/organizations?filter=unverified").get_data(as_text=True)
    assert "待认证的研究院" in pending and "已认证的眼镜公司" not in pending


def test_admin_verifies_an_organisation(db, login_as):
    org = create_org(OrgKind.enterprise, verified=False)
    admin = create_user(Role.admin)
    seen = []

    def receiver(sender, **kwargs):
        seen.append((sender.id, kwargs["actor"].id))

    with organization_saved.connected_to(receiver):
        response = login_as(admin).post(f"/accounts/admin/organizations/{org.id}/verify")
    assert response.status_code == 302
    db.session.refresh(org)
    assert org.is_verified
    assert audit_actions(db) == ["verify_organization"]
    assert seen == [(org.id, admin.id)]
    # Verifying again is refused and records nothing.
    with pytest.raises(Exception, match="已通过认证"):
        services.verify_organization(org, admin)
    assert audit_actions(db) == ["verify_organization"]


def test_only_admins_verify_through_the_service(db):
    org = create_org(OrgKind.enterprise, verified=False)
    with pytest.raises(PermissionDenied):
        services.verify_organization(org, create_user(Role.reviewer))
    db.session.refresh(org)
    assert not org.is_verified


def _draft_data():
    return challenge_services.ChallengeData(
        title="眼镜镜片镀膜均匀性提升", industry=Industry.eyewear, category=Category.key_process,
        background="镀膜厚度不均。", bottleneck="膜厚偏差需小于 2%。",
        expected_outcome="量产工艺。",
        bounty_yuan=500_000, bid_deadline=utcnow() + timedelta(days=20), delivery_months=6,
        ip_terms=IPTerms.shared)


def test_unverified_organisation_may_draft_but_not_submit(db):
    owner = create_user(Role.enterprise, organization=create_org(OrgKind.enterprise,
                                                                 verified=False))
    challenge = challenge_services.create_challenge(owner, _draft_data())
    assert challenge.state == ChallengeState.draft
    with pytest.raises(PermissionDenied, match="尚未通过平台认证"):
        challenge_services.submit_challenge(challenge, owner)
    db.session.refresh(challenge)
    assert challenge.state == ChallengeState.draft

    services.verify_organization(owner.organization, create_user(Role.admin))
    challenge_services.submit_challenge(challenge, owner)
    assert challenge.state == ChallengeState.vetting


def staff_form(**overrides) -> dict:
    data = {"name": "王审核", "email": "wang@kjj.ouhai.gov.cn", "role": "reviewer",
            "password": STRONG, "password2": STRONG, "organization": "0",
            "new_org_name": "温州市瓯海区科学技术局", "new_org_uscc": make_uscc(OrgKind.government),
            "new_org_region": "浙江省温州市瓯海区"}
    data.update(overrides)
    return data


def test_admin_creates_a_reviewer_with_a_new_government_body(db, login_as):
    admin = create_user(Role.admin)
    client = login_as(admin)
    form = client.get("/accounts/admin/users/new").get_data(as_text=True)
    assert "新建政府部门" in form
    response = client.post("/accounts/admin/users/new", data=staff_form())
    assert response.status_code == 302
    reviewer = db.session.execute(
        sa.select(User).where(User.email == "wang@kjj.ouhai.gov.cn")).scalar_one()
    assert reviewer.role == Role.reviewer
    assert reviewer.organization.kind == OrgKind.government
    assert reviewer.organization.is_verified
    assert audit_actions(db) == ["create_organization", "create_user"]
    assert "wang@kjj.ouhai.gov.cn" in client.get("/accounts/admin/users").get_data(as_text=True)


def test_admin_creates_a_reviewer_in_an_existing_body_and_an_admin(db, login_as):
    admin = create_user(Role.admin)
    government = create_org(OrgKind.government)
    client = login_as(admin)
    assert client.post("/accounts/admin/users/new", data=staff_form(
        organization=str(government.id))).status_code == 302
    assert client.post("/accounts/admin/users/new", data=staff_form(
        email="ops@platform.cn", role="admin",
        organization=str(admin.organization_id))).status_code == 302
    roles = dict(db.session.execute(sa.select(User.email, User.role)).all())
    assert roles["wang@kjj.ouhai.gov.cn"] == Role.reviewer
    assert roles["ops@platform.cn"] == Role.admin


@pytest.mark.parametrize("overrides,field,message", [
    ({"new_org_uscc": make_uscc(OrgKind.enterprise)}, "new_org_uscc", "与所选单位类型"),
    ({"new_org_uscc": "11330300MA2ABC"}, "new_org_uscc", "18 位"),
    ({"new_org_name": ""}, "new_org_name", "请填写政府部门名称"),
    ({"email": "not-an-email"}, "email", "邮箱格式不正确"),
    ({"password": "password123", "password2": "password123"}, "password", "过于常见"),
    ({"role": "admin"}, "organization", "只能为审核员新建政府部门"),
    ({"role": "enterprise"}, "role", "不是有效的选择"),
])
def test_bad_staff_user_forms_write_nothing(db, login_as, overrides, field, message):
    client = login_as(create_user(Role.admin))
    before = row_counts(db)
    response = client.post("/accounts/admin/users/new", data=staff_form(**overrides))
    assert response.status_code == 422
    assert message in field_block(response.get_data(as_text=True), field)
    assert row_counts(db) == before


def test_reviewer_cannot_be_put_in_the_platform_org(db, login_as):
    admin = create_user(Role.admin)
    client = login_as(admin)
    before = row_counts(db)
    response = client.post("/accounts/admin/users/new",
                           data=staff_form(organization=str(admin.organization_id)))
    assert response.status_code == 422
    assert "审核员须属于政府部门" in field_block(response.get_data(as_text=True), "organization")
    assert row_counts(db) == before


def test_duplicate_email_in_other_case(db, login_as):
    create_user(Role.enterprise, email="wang@kjj.ouhai.gov.cn")
    client = login_as(create_user(Role.admin))
    response = client.post("/accounts/admin/users/new",
                           data=staff_form(email="WANG@kjj.ouhai.gov.cn"))
    assert response.status_code == 422
    assert "该邮箱已注册" in field_block(response.get_data(as_text=True), "email")


def test_disabling_a_user_ends_their_sessions(app, db, login_as):
    admin = create_user(Role.admin)
    victim = create_user(Role.enterprise)
    victim_client = login_as(victim)
    assert victim_client.get("/accounts/profile").status_code == 200
    token = victim.session_token

    assert login_as(admin).post(f"/accounts/admin/users/{victim.id}/disable").status_code == 302
    db.session.refresh(victim)
    assert victim.is_disabled and victim.session_token != token
    assert victim_client.get("/accounts/profile").status_code == 302
    login = app.test_client().post("/accounts/login", data={"email": victim.email,
                                                             "password": "correct-horse-battery-9"})
    assert login.status_code == 403
    assert audit_actions(db) == ["disable_user"]

    login_as(admin).post(f"/accounts/admin/users/{victim.id}/enable")
    db.session.refresh(victim)
    assert not victim.is_disabled
    login_as(victim)  # asserts the login succeeds


def test_admin_cannot_disable_themselves(db):
    admin = create_user(Role.admin)
    with pytest.raises(Exception, match="不能停用自己的账号"):
        services.set_user_disabled(admin, admin)
    assert not admin.is_disabled
