"""Deadlines in Chinese working days: weekends off, holidays off, make-up days (调休) on."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from bounty.audit import AuditEvent
from bounty.challenges.models import ChallengeState
from bounty.errors import InvalidField
from bounty.extensions import db
from bounty.review.assignment import ReviewTask, sync_tasks
from bounty.review.workdays import (
    Holiday,
    add_holiday,
    add_working_days,
    working_days_between,
)
from bounty.timeutil import SHANGHAI, to_local

from ..factories import create_challenge, create_user

FRIDAY_10 = datetime(2026, 3, 6, 10, 0, tzinfo=SHANGHAI)


def local(value: datetime) -> str:
    return to_local(value).strftime("%a %Y-%m-%d %H:%M")


def test_weekend_is_skipped(app):
    assert local(add_working_days(FRIDAY_10, 1)) == "Mon 2026-03-09 10:00"
    assert local(add_working_days(FRIDAY_10, 2)) == "Tue 2026-03-10 10:00"
    assert local(add_working_days(FRIDAY_10, 5)) == "Fri 2026-03-13 10:00"
    saturday = datetime(2026, 3, 7, 15, 30, tzinfo=SHANGHAI)
    assert local(add_working_days(saturday, 1)) == "Mon 2026-03-09 15:30"


def test_a_holiday_pushes_the_deadline(app):
    admin = create_user("admin")
    add_holiday(admin, date(2026, 3, 9), "测试假日")
    assert local(add_working_days(FRIDAY_10, 2)) == "Wed 2026-03-11 10:00"


def test_a_make_up_saturday_pulls_it_back(app):
    admin = create_user("admin")
    add_holiday(admin, date(2026, 3, 7), "调休上班", is_workday=True)
    assert local(add_working_days(FRIDAY_10, 1)) == "Sat 2026-03-07 10:00"
    assert local(add_working_days(FRIDAY_10, 2)) == "Mon 2026-03-09 10:00"


def test_golden_week_with_make_up_days(app):
    """国庆 2026: 10-01..10-07 off; a later 调休 Saturday 10-10 is worked."""
    admin = create_user("admin")
    for day in range(1, 8):
        if date(2026, 10, day).weekday() < 5:
            add_holiday(admin, date(2026, 10, day), "国庆节")
    add_holiday(admin, date(2026, 10, 10), "国庆调休上班", is_workday=True)
    start = datetime(2026, 9, 30, 9, 0, tzinfo=SHANGHAI)  # Wednesday
    assert local(add_working_days(start, 1)) == "Thu 2026-10-08 09:00"
    assert local(add_working_days(start, 3)) == "Sat 2026-10-10 09:00"
    assert working_days_between(start, datetime(2026, 10, 12, 9, 0, tzinfo=SHANGHAI)) == 4


def test_task_due_date_and_overdue_over_a_weekend_and_a_holiday(app, time_machine, sign_in):
    admin = create_user("admin")
    add_holiday(admin, date(2026, 3, 9), "测试假日")
    time_machine.move_to(FRIDAY_10)
    challenge = create_challenge(state=ChallengeState.vetting)  # 审题: 5 working days
    sync_tasks()
    task = db.session.execute(sa.select(ReviewTask)).scalar_one()
    # Fri + (Tue, Wed, Thu, Fri, Mon): the weekend and the Monday holiday do not count.
    assert local(task.due_at) == "Mon 2026-03-16 10:00"
    time_machine.move_to(datetime(2026, 3, 16, 9, 59, tzinfo=SHANGHAI))
    reviewer = sign_in(create_user("reviewer"))  # after the jump: sessions end when idle
    assert not task.is_overdue()
    assert "已超期 (0)" in reviewer.get("/review/tasks").get_data(as_text=True)
    time_machine.move_to(datetime(2026, 3, 16, 10, 1, tzinfo=SHANGHAI))
    assert task.is_overdue()
    page = reviewer.get("/review/tasks?view=overdue").get_data(as_text=True)
    assert "已超期 (1)" in page and challenge.title in page


@pytest.mark.parametrize("day, workday, message", [
    (date(2026, 3, 7), False, "周末本来就不计工作日"),
    (date(2026, 3, 9), True, "调休上班日应为周六或周日"),
])
def test_holiday_rules(app, day, workday, message):
    with pytest.raises(InvalidField, match=message):
        add_holiday(create_user("admin"), day, "测试", is_workday=workday)


def test_admin_keeps_the_calendar_on_a_page(app, sign_in, time_machine):
    time_machine.move_to("2026-03-02 10:00:00+08:00", tick=False)
    admin = sign_in(create_user("admin"))
    response = admin.post("/review/holidays", data={"day": "2026-05-01", "name": "劳动节"})
    assert response.status_code == 302
    again = admin.post("/review/holidays", data={"day": "2026-05-01", "name": "劳动节"})
    assert again.status_code == 422 and "该日期已登记。" in again.get_data(as_text=True)
    page = admin.get("/review/holidays").get_data(as_text=True)
    assert "2026-05-01" in page and "劳动节" in page
    holiday = db.session.execute(sa.select(Holiday)).scalar_one()
    assert admin.post(f"/review/holidays/{holiday.id}/delete").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Holiday)) == 0
    actions = set(db.session.execute(sa.select(AuditEvent.action)).scalars())
    assert {"add_holiday", "remove_holiday"} <= actions
    assert sign_in(create_user("reviewer")).get("/review/holidays").status_code == 403


def test_the_calendar_page_starts_at_this_year(app, sign_in, time_machine):
    time_machine.move_to("2026-03-02 10:00:00+08:00", tick=False)
    admin = create_user("admin")
    add_holiday(admin, date(2025, 10, 8), "国庆节")
    add_holiday(admin, date(2026, 10, 8), "国庆节")
    page = sign_in(admin).get("/review/holidays").get_data(as_text=True)
    assert "2026-10-08" in page and "2025-10-08" not in page
