"""The State Council's public holidays and make-up working days (调休), as published and
maintained in the ``chinesecalendar`` package (pinned in pyproject.toml).

Only what differs from "Monday to Friday work, weekends off" is returned: weekdays off
and weekend days worked; those are exactly the rows :mod:`bounty.review.workdays`
keeps. This module imports nothing of the application, so the data migration that
seeds the calendar can use it as well.
"""

from __future__ import annotations

from datetime import date

from chinese_calendar import constants

# The package names holidays in English; the calendar is data, kept in Chinese like the
# days an admin enters.
HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


def _chinese(name: str) -> str:
    return HOLIDAY_NAMES.get(name, name)


def official_exceptions(since: date | None = None) -> list[tuple[date, str, bool]]:
    """(day, name, is_workday) for every weekday off and every weekend day worked that the
    package knows, from ``since`` on, in date order."""
    rows = [(day, _chinese(name), False) for day, name in constants.holidays.items()
            if day.weekday() < 5]
    rows += [(day, f"{_chinese(name)}调休上班", True) for day, name in constants.workdays.items()
             if day.weekday() >= 5]
    return sorted(row for row in rows if since is None or row[0] >= since)


def last_covered_day() -> date:
    """The last day the package has official data for (a new year needs a package update)."""
    return max(max(constants.holidays), max(constants.workdays))
