"""Joining an organisation that is already registered: pending until a member approves."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bounty.accounts import services
from bounty.accounts.models import MembershipStatus, OrgKind, Role, User
from bounty.errors import DomainError, PermissionDenied
from bounty.extensions import db as _db

from ..factories import create_org, create_user
from .helpers import STRONG, audit_actions, error_texts, register


def register_into(client, org, email="newcomer@lock-maker.cn"):
    return register(client, _db, {
        "name": "新成员", "email": email, "password": STRONG, "password2": STRONG,
        "kind": org.kind.value, "org_name": "随便写的名称", "uscc": org.uscc,
    })


def test_second_person_joins_as_pending_and_cannot_log_in(client, db):
    org = create_org(OrgKind.enterprise, name="温州鞋革集团有限公司")
    create_user(Role.enterprise, organization=org)
    response = register_into(client, org)
    assert response.status_code == 302 and response.headers["Location"] == "/accounts/login"
    page = client.get("/accounts/login").get_data(as_text=True)
    assert "审核通过前暂不能登录" in page
    newcomer = db.session.execute(
        sa.select(User).where(User.email == "newcomer@lock-maker.cn")).scalar_one()
    assert newcomer.membership == MembershipStatus.pending
    assert newcomer.organization_id == org.id and newcomer.role == Role.enterprise
    # The organisation keeps its own name; the newcomer's typing does not overwrite it.
    assert org.name == "温州鞋革集团有限公司"
    assert audit_actions(db) == ["register"]
    login = client.post("/accounts/login", data={"email": newcomer.email, "password": STRONG})
    assert login.status_code == 403
    assert "等待本单位已有成员审核" in error_texts(login.get_data(as_text=True))[0]


def test_member_approves_and_the_newcomer_logs_in(client, db, login_as):
    org = create_org(OrgKind.institute)
    member = create_user(Role.institute, organization=org)
    register_into(client, org)
    newcomer = db.session.execute(sa.select(User).where(User.membership == "pending")).scalar_one()

    member_client = login_as(member)
    page = member_client.get("/accounts/members").get_data(as_text=True)
    assert "待审核的加入申请" in page and "newcomer@lock-maker.cn" in page
    response = member_client.post(f"/accounts/members/{newcomer.id}/approve")
    assert response.status_code == 302
    db.session.refresh(newcomer)
    assert newcomer.membership == MembershipStatus.active
    assert audit_actions(db)[-1] == "approve_member"

    assert client.post("/accounts/login", data={"email": newcomer.email,
                                                "password": STRONG}).status_code == 302
    assert "单位成员" in client.get("/accounts/members").get_data(as_text=True)


def test_member_refuses(client, db, login_as):
    org = create_org(OrgKind.enterprise)
    member = create_user(Role.enterprise, organization=org)
    register_into(client, org)
    newcomer = db.session.execute(sa.select(User).where(User.membership == "pending")).scalar_one()
    login_as(member).post(f"/accounts/members/{newcomer.id}/refuse")
    db.session.refresh(newcomer)
    assert newcomer.membership == MembershipStatus.refused
    assert audit_actions(db)[-1] == "refuse_member"
    login = client.post("/accounts/login", data={"email": newcomer.email, "password": STRONG})
    assert login.status_code == 403


def test_members_of_other_organisations_cannot_decide(db, login_as):
    org = create_org(OrgKind.enterprise)
    create_user(Role.enterprise, organization=org)
    pending = create_user(Role.enterprise, organization=org, membership=MembershipStatus.pending)
    outsider = create_user(Role.enterprise)
    client = login_as(outsider)
    assert client.post(f"/accounts/members/{pending.id}/approve").status_code == 404
    assert "pending" not in client.get("/accounts/members").get_data(as_text=True)
    assert pending.email not in client.get("/accounts/members").get_data(as_text=True)
    db.session.refresh(pending)
    assert pending.membership == MembershipStatus.pending
    with pytest.raises(PermissionDenied):
        services.decide_membership(pending, outsider, approve=True)


def test_a_pending_member_cannot_approve_another(db):
    org = create_org(OrgKind.enterprise)
    first = create_user(Role.enterprise, organization=org, membership=MembershipStatus.pending)
    second = create_user(Role.enterprise, organization=org, membership=MembershipStatus.pending)
    with pytest.raises(PermissionDenied):
        services.decide_membership(second, first, approve=True)


def test_deciding_twice_is_refused(db, login_as):
    org = create_org(OrgKind.enterprise)
    member = create_user(Role.enterprise, organization=org)
    pending = create_user(Role.enterprise, organization=org, membership=MembershipStatus.pending)
    services.decide_membership(pending, member, approve=True)
    events = len(audit_actions(db))
    with pytest.raises(DomainError, match="已处理"):
        services.decide_membership(pending, member, approve=False)
    db.session.refresh(pending)
    assert pending.membership == MembershipStatus.active
    assert len(audit_actions(db)) == events
    # Through the page: a repeated POST says so and changes nothing.
    client = login_as(member)
    response = client.post(f"/accounts/members/{pending.id}/refuse", follow_redirects=True)
    assert "已处理" in response.get_data(as_text=True)
    assert len(audit_actions(db)) == events


def test_members_page_needs_login(client, db):
    assert client.get("/accounts/members").status_code == 302
