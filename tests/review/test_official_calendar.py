"""The official calendar (chinesecalendar): 春节 and 国庆 right out of the box, 调休
Saturdays worked, admins' own entries kept and still editable."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from bounty.extensions import db
from bounty.review.official_calendar import last_covered_day, official_exceptions
from bounty.review.workdays import (
    Holiday,
    add_holiday,
    add_working_days,
    remove_holiday,
    seed_official_calendar,
)
from bounty.timeutil import SHANGHAI, to_local

from ..factories import create_user


def local(value: datetime) -> str:
    return to_local(value).strftime("%a %Y-%m-%d %H:%M")


def test_the_official_data_has_only_real_exceptions():
    rows = official_exceptions(date(2026, 1, 1))
    assert (date(2026, 2, 16), "春节", False) in rows
    assert (date(2026, 2, 14), "春节调休上班", True) in rows  # a Saturday worked
    assert all((day.weekday() >= 5) == is_workday for day, _name, is_workday in rows)
    assert last_covered_day() >= date(2026, 10, 7)


def test_spring_festival_and_national_day_push_due_dates(app):
    assert seed_official_calendar() > 300
    friday = datetime(2026, 2, 13, 10, 0, tzinfo=SHANGHAI)
    assert local(add_working_days(friday, 1)) == "Sat 2026-02-14 10:00"  # 调休上班
    assert local(add_working_days(friday, 2)) == "Tue 2026-02-24 10:00"  # after 春节
    before_national_day = datetime(2026, 9, 30, 9, 0, tzinfo=SHANGHAI)
    assert local(add_working_days(before_national_day, 1)) == "Thu 2026-10-08 09:00"


def test_seeding_keeps_admins_entries_and_adds_nothing_twice(app):
    admin = create_user("admin")
    add_holiday(admin, date(2026, 10, 1), "国庆（本区安排）")
    seed_official_calendar()
    assert seed_official_calendar() == 0
    kept = db.session.execute(sa.select(Holiday).where(
        Holiday.day == date(2026, 10, 1))).scalar_one()
    assert kept.name == "国庆（本区安排）"
    # and an admin may still remove a seeded day
    seeded = db.session.execute(sa.select(Holiday).where(
        Holiday.day == date(2026, 10, 2))).scalar_one()
    remove_holiday(admin, seeded)
    assert db.session.get(Holiday, seeded.id) is None


def test_the_seed_command(app, runner):
    result = runner.invoke(args=["holidays", "seed"])
    assert result.exit_code == 0, result.output
    assert "added" in result.output and "2026" in result.output


def test_the_holiday_page_says_how_far_the_official_data_reaches(app, sign_in):
    page = sign_in(create_user("admin")).get("/review/holidays").get_data(as_text=True)
    assert f"官方放假安排已载入至 {last_covered_day().year} 年底" in page
