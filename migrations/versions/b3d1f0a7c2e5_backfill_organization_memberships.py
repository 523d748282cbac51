"""organisation membership history for users that have none

Revision ID: b3d1f0a7c2e5
Revises: a6e2bbb22404
Create Date: 2026-12-02 13:00:00.000000

Data only: every user with an organisation but no history row for it gets one open
period from the day the account was created (this used to run whenever the review
stages were first read). Users created since are recorded by the accounts services.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b3d1f0a7c2e5'
down_revision = 'a6e2bbb22404'
branch_labels = None
depends_on = None

users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("organization_id", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
memberships = sa.table(
    "organization_memberships",
    sa.column("user_id", sa.Integer),
    sa.column("organization_id", sa.Integer),
    sa.column("joined_at", sa.DateTime(timezone=True)),
)


def backfill_memberships(connection) -> int:
    """Add the missing open periods; return how many (run again: 0)."""
    known = sa.select(memberships.c.user_id).where(
        memberships.c.user_id == users.c.id,
        memberships.c.organization_id == users.c.organization_id)
    missing = sa.select(users.c.id, users.c.organization_id, users.c.created_at).where(
        users.c.organization_id.is_not(None), ~known.exists())
    # Counted first: an INSERT ... SELECT's rowcount is -1 through psycopg.
    count = connection.execute(
        sa.select(sa.func.count()).select_from(missing.subquery())).scalar()
    if count:
        connection.execute(memberships.insert().from_select(
            ["user_id", "organization_id", "joined_at"], missing))
    return count


def upgrade():
    backfill_memberships(op.get_bind())


def downgrade():
    pass  # the rows are history like any other; nothing to undo
