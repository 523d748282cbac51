"""The profile page: name, language, password change, institute expertise."""

from __future__ import annotations

from bounty.accounts.models import OrgKind, Role
from bounty.signals import organization_saved

from ..factories import DEFAULT_PASSWORD, create_org, create_user
from .helpers import STRONG, audit_actions, field_block


def test_profile_shows_the_user_and_organisation(db, login_as):
    user = create_user(Role.enterprise, name="周经理")
    page = login_as(user).get("/accounts/profile").get_data(as_text=True)
    assert "周经理" in page and user.email in page and user.organization.name in page
    assert "本单位研究专长" not in page  # enterprises have no expertise profile


def test_change_name_and_language(db, login_as):
    user = create_user(Role.enterprise)
    client = login_as(user)
    response = client.post("/accounts/profile", data={"profile-name": "周总",
                                                      "profile-locale": "en"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.name == "周总" and user.locale == "en"
    assert '<html lang="en">' in client.get("/accounts/profile").get_data(as_text=True)


def test_empty_name_is_refused(db, login_as):
    user = create_user(Role.enterprise, name="周经理")
    response = login_as(user).post("/accounts/profile", data={"profile-name": "",
                                                              "profile-locale": "zh_CN"})
    assert response.status_code == 422
    assert "请填写姓名" in field_block(response.get_data(as_text=True), "profile-name")
    db.session.refresh(user)
    assert user.name == "周经理"


def test_password_change_needs_the_current_password(db, login_as):
    user = create_user(Role.institute)
    old_hash = user.password_hash
    response = login_as(user).post("/accounts/profile/password", data={
        "pw-current_password": "Wrong-password-42", "pw-new_password": STRONG,
        "pw-new_password2": STRONG})
    assert response.status_code == 422
    assert "当前密码不正确" in field_block(response.get_data(as_text=True),
                                     "pw-current_password")
    db.session.refresh(user)
    assert user.password_hash == old_hash
    assert audit_actions(db) == []


def test_weak_new_password_is_refused(db, login_as):
    user = create_user(Role.institute)
    response = login_as(user).post("/accounts/profile/password", data={
        "pw-current_password": DEFAULT_PASSWORD, "pw-new_password": "qwertyuiop",
        "pw-new_password2": "qwertyuiop"})
    assert response.status_code == 422
    assert "过于常见" in field_block(response.get_data(as_text=True), "pw-new_password")


def test_password_change_ends_other_sessions_but_keeps_this_one(app, db, login_as):
    user = create_user(Role.institute)
    here = login_as(user)
    elsewhere = login_as(user)
    response = here.post("/accounts/profile/password", data={
        "pw-current_password": DEFAULT_PASSWORD, "pw-new_password": STRONG,
        "pw-new_password2": STRONG})
    assert response.status_code == 302
    assert here.get("/accounts/profile").status_code == 200
    assert elsewhere.get("/accounts/profile").status_code == 302
    assert audit_actions(db) == ["change_password"]
    fresh = app.test_client()
    assert fresh.post("/accounts/login", data={"email": user.email,
                                               "password": DEFAULT_PASSWORD}).status_code == 200
    login_as(user, password=STRONG)


def test_institute_member_edits_expertise(db, login_as):
    org = create_org(OrgKind.institute)
    member = create_user(Role.institute, organization=org)
    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender.id)

    client = login_as(member)
    assert "本单位研究专长" in client.get("/accounts/profile").get_data(as_text=True)
    with organization_saved.connected_to(receiver):
        response = client.post("/accounts/profile/expertise", data={
            "exp-expertise": "新能源汽车电机控制、汽摩配精密铸造",
            "exp-keywords": "电机，铸造, 汽摩配"})
    assert response.status_code == 302
    db.session.refresh(org)
    assert org.expertise == "新能源汽车电机控制、汽摩配精密铸造"
    assert org.keywords == "电机 铸造 汽摩配"
    assert seen == [org.id]
    assert "电机" in client.get(f"/orgs/{org.id}").get_data(as_text=True)


def test_enterprise_cannot_edit_expertise(db, login_as):
    user = create_user(Role.enterprise)
    response = login_as(user).post("/accounts/profile/expertise",
                                   data={"exp-expertise": "x", "exp-keywords": "y"})
    assert response.status_code == 403
    db.session.refresh(user.organization)
    assert user.organization.expertise == ""
