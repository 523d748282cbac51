"""seed the official public holidays and make-up working days (调休)

Revision ID: a6e2bbb22404
Revises: 7c3e5a9d2f14
Create Date: 2026-12-02 08:00:00.000000

Data only: the days the chinesecalendar package knows that differ from "weekdays
work, weekends off" become review_holidays rows, unless a row for that date exists.
Later years: `bounty holidays seed` after updating the package.
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from bounty.review.official_calendar import official_exceptions

# revision identifiers, used by Alembic.
revision = 'a6e2bbb22404'
down_revision = '7c3e5a9d2f14'
branch_labels = None
depends_on = None

holidays = sa.table(
    "review_holidays",
    sa.column("day", sa.Date),
    sa.column("name", sa.String),
    sa.column("is_workday", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade():
    connection = op.get_bind()
    present = set(connection.execute(sa.select(holidays.c.day)).scalars())
    now = datetime.now(UTC)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as bounty.timeutil.UTCDateTime stores it there
    rows = [{"day": day, "name": name, "is_workday": is_workday, "created_at": now}
            for day, name, is_workday in official_exceptions() if day not in present]
    if rows:
        op.bulk_insert(holidays, rows)


def downgrade():
    connection = op.get_bind()
    for day, name, is_workday in official_exceptions():
        connection.execute(holidays.delete().where(
            holidays.c.day == day, holidays.c.name == name,
            holidays.c.is_workday == is_workday))
