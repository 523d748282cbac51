"""`bounty users create`: reviewers and admins from the command line."""

from __future__ import annotations

import sqlalchemy as sa

from bounty.accounts.models import OrgKind, Role, User

from ..factories import create_org, create_user
from .helpers import STRONG


def invoke(runner, *extra):
    return runner.invoke(args=["users", "create", "--name", "林审核", "--role", "reviewer",
                               "--password", STRONG, *extra])


def test_creates_a_reviewer_in_a_government_body(runner, db):
    government = create_org(OrgKind.government)
    result = invoke(runner, "--email", "Lin@KJJ.ouhai.gov.cn", "--org-uscc", government.uscc)
    assert result.exit_code == 0, result.output
    assert "created reviewer lin@kjj.ouhai.gov.cn" in result.output
    user = db.session.execute(sa.select(User)).scalar_one()
    assert user.role == Role.reviewer and user.organization_id == government.id
    assert user.email == "lin@kjj.ouhai.gov.cn"


def _one_line_error(result) -> str:
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_refuses_a_bad_email(runner, db):
    assert "邮箱格式不正确" in _one_line_error(invoke(runner, "--email", "not-an-email"))
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 0


def test_refuses_a_duplicate_email_in_any_case(runner, db):
    create_user(Role.enterprise, email="lin@kjj.ouhai.gov.cn")
    assert "该邮箱已注册" in _one_line_error(invoke(runner, "--email", "LIN@kjj.ouhai.gov.cn"))
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 1


def test_refuses_a_reviewer_in_an_enterprise(runner, db):
    enterprise = create_org(OrgKind.enterprise)
    line = _one_line_error(invoke(runner, "--email", "lin@kjj.ouhai.gov.cn",
                                  "--org-uscc", enterprise.uscc))
    assert "政府部门" in line


def test_refuses_a_self_registered_role(runner, db):
    result = runner.invoke(args=["users", "create", "--email", "a@b.cn", "--name", "某",
                                 "--role", "enterprise", "--password", STRONG])
    assert result.exit_code == 2  # click refuses the choice before anything runs
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 0
