"""``bounty holidays``: the working-day calendar from the command line."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("holidays")
def holidays_group() -> None:
    """The calendar of public holidays and make-up working days (调休)."""


@holidays_group.command("seed")
@with_appcontext
def seed_command() -> None:
    """Add the official holidays and 调休 days the chinesecalendar package knows
    (days already in the calendar, an admin's included, stay as they are)."""
    from .official_calendar import last_covered_day
    from .workdays import seed_official_calendar

    added = seed_official_calendar()
    click.echo(f"added {added} days; official data up to {last_covered_day().isoformat()}")
