"""Chinese working days: weekends off, public holidays off, make-up working days (调休) on.

Admins keep the calendar in :class:`Holiday` rows: a date that is a day off
(法定节假日) or a weekend date that is worked (调休上班, ``is_workday``). The official
calendar is seeded into those rows (a data migration, and ``bounty holidays seed`` after
the ``chinesecalendar`` package learns a new year); admins then add or remove exceptions.
Deadlines keep the clock time of their start and land on the n-th working day
after it, in Asia/Shanghai.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from ..audit import record_event
from ..errors import InvalidField, PermissionDenied
from ..extensions import db
from ..timeutil import UTCDateTime, from_local, to_local, utcnow
from ..transactions import atomic
from .official_calendar import official_exceptions


class Holiday(db.Model):
    """One calendar exception: a day off, or (``is_workday``) a weekend day worked (调休)."""

    __tablename__ = "review_holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    is_workday: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def calendar_between(start: date, end: date) -> dict[date, bool]:
    """The calendar's exceptions in [start, end]: date -> is it a working day."""
    rows = db.session.execute(
        sa.select(Holiday.day, Holiday.is_workday).where(Holiday.day.between(start, end))
    ).all()
    return {day: is_workday for day, is_workday in rows}


def load_calendar() -> dict[date, bool]:
    """The whole calendar in memory (a few dozen rows a year): load it once for a page or
    an export that counts many periods, and pass it to :func:`working_days_between`."""
    return dict(db.session.execute(sa.select(Holiday.day, Holiday.is_workday)).all())


def is_working_day(day: date, exceptions: Mapping[date, bool] | None = None) -> bool:
    if exceptions is None:
        exceptions = calendar_between(day, day)
    if day in exceptions:
        return exceptions[day]
    return day.weekday() < 5


def add_working_days(start: datetime, days: int) -> datetime:
    """The moment ``days`` working days after ``start`` (same Shanghai clock time).

    Started on Friday 10:00 with 2 working days: due Tuesday 10:00; a holiday
    in between pushes it a day further, a make-up Saturday pulls it back.
    """
    local = to_local(start)
    day = local.date()
    horizon = day + timedelta(days=days * 3 + 60)
    exceptions = calendar_between(day, horizon)
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if day > horizon:
            horizon = day + timedelta(days=366)
            exceptions.update(calendar_between(day, horizon))
        if is_working_day(day, exceptions):
            counted += 1
    naive = datetime.combine(day, local.time().replace(tzinfo=None))
    return from_local(naive)


def working_days_between(start: datetime, end: datetime,
                         calendar: Mapping[date, bool] | None = None) -> int:
    """Whole working days from ``start``'s date (exclusive) to ``end``'s date (inclusive).

    :param calendar: the calendar from :func:`load_calendar`, when counting many
        periods; else the exceptions of this period are read.
    """
    first, last = to_local(start).date(), to_local(end).date()
    if last <= first:
        return 0
    exceptions = calendar if calendar is not None else calendar_between(first, last)
    return sum(1 for n in range(1, (last - first).days + 1)
               if is_working_day(first + timedelta(days=n), exceptions))


# --------------------------------------------------------------------------- admin


def _require_admin(actor) -> None:
    if actor is None or not actor.is_admin:
        raise PermissionDenied(str(_l("只有平台管理员可以维护节假日。")))


def holidays(since: date | None = None) -> list[Holiday]:
    """The calendar's days in date order, from ``since`` on (all of them without it)."""
    query = sa.select(Holiday).order_by(Holiday.day)
    if since is not None:
        query = query.where(Holiday.day >= since)
    return list(db.session.execute(query).scalars())


def add_holiday(actor, day: date | None, name: str, is_workday: bool = False) -> Holiday:
    """An admin adds a day off, or a make-up working day (调休上班)."""
    _require_admin(actor)
    if day is None:
        raise InvalidField(str(_l("请填写日期。")), "day")
    name = (name or "").strip()
    if not name:
        raise InvalidField(str(_l("请填写名称，如“国庆节”或“国庆调休上班”。")), "name")
    if is_workday and day.weekday() < 5:
        raise InvalidField(str(_l("调休上班日应为周六或周日。")), "day")
    if not is_workday and day.weekday() >= 5:
        raise InvalidField(str(_l("周末本来就不计工作日，无需登记为节假日。")), "day")
    with atomic(str(_l("该日期已登记。"))):
        if db.session.execute(sa.select(Holiday.id).where(Holiday.day == day)).first():
            raise InvalidField(str(_l("该日期已登记。")), "day")
        holiday = Holiday(day=day, name=name[:100], is_workday=is_workday)
        db.session.add(holiday)
        db.session.flush()
        record_event(actor=actor, action="add_holiday", subject=holiday,
                     to_state="workday" if is_workday else "holiday",
                     comment=f"{day.isoformat()} {name}")
    return holiday


def remove_holiday(actor, holiday: Holiday) -> None:
    _require_admin(actor)
    with atomic():
        record_event(actor=actor, action="remove_holiday", subject=holiday,
                     comment=f"{holiday.day.isoformat()} {holiday.name}")
        db.session.delete(holiday)



def seed_official_calendar(since: date | None = None) -> int:
    """Add the official holidays and make-up working days (:mod:`official_calendar`) that
    are not in the calendar yet; a date an admin already entered is left as it is.

    :param since: the first date to seed (default: everything the package knows).
    :returns: how many days were added.
    """
    wanted = official_exceptions(since)
    if not wanted:
        return 0
    with atomic():
        present = set(db.session.execute(sa.select(Holiday.day).where(
            Holiday.day.between(wanted[0][0], wanted[-1][0]))).scalars())
        added = [Holiday(day=day, name=name, is_workday=is_workday)
                 for day, name, is_workday in wanted if day not in present]
        db.session.add_all(added)
    return len(added)
