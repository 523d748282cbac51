"""The organisation membership history: written with every change of membership, and
filled once by a migration for users that had none."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa

from bounty.accounts.models import OrganizationMembership, OrgKind, Role
from bounty.accounts.services import RegistrationData, decide_membership, register
from bounty.accounts.services import create_user as create_account
from bounty.extensions import db

from ..factories import DEFAULT_PASSWORD, create_org, create_user, make_uscc

_MIGRATION = (Path(__file__).parents[2] / "migrations" / "versions"
              / "b3d1f0a7c2e5_backfill_organization_memberships.py")


def _migration():
    spec = importlib.util.spec_from_file_location("backfill_memberships", _MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


backfill_memberships = _migration().backfill_memberships


def test_registration_and_staff_creation_record_membership(app):
    user = register(RegistrationData(
        name="陈工", email="chen@example.com", password=DEFAULT_PASSWORD, org_name="测试企业",
        kind=OrgKind.enterprise, uscc=make_uscc(OrgKind.enterprise)))
    colleague = register(RegistrationData(
        name="林工", email="lin@example.com", password=DEFAULT_PASSWORD, org_name="",
        kind=OrgKind.enterprise, uscc=user.organization.uscc))
    gov = create_org(OrgKind.government)
    reviewer = create_account(email="rev@example.com", name="审核员", password=DEFAULT_PASSWORD,
                              role=Role.reviewer, organization=gov)
    rows = {(m.user_id, m.organization_id, m.left_at is None) for m in db.session.execute(
        sa.select(OrganizationMembership)).scalars()}
    assert rows == {(user.id, user.organization_id, True),
                    (colleague.id, user.organization_id, True), (reviewer.id, gov.id, True)}
    decide_membership(colleague, user, approve=False)  # refused: the period ends
    ended = db.session.execute(sa.select(OrganizationMembership).where(
        OrganizationMembership.user_id == colleague.id)).scalar_one()
    assert ended.left_at is not None


def test_backfill_from_current_organisation(app):
    reviewer = create_user("reviewer")  # the factory bypasses the services
    assert backfill_memberships(db.session.connection()) == 1
    assert backfill_memberships(db.session.connection()) == 0
    row = db.session.execute(sa.select(OrganizationMembership)).scalar_one()
    assert (row.user_id, row.organization_id) == (reviewer.id, reviewer.organization_id)
