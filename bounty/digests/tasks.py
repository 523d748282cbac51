"""Scheduled jobs of the digests: daily and weekly digests, the outbox drain, reminders.

Added to the scheduler by :func:`add_jobs` (called from bounty.jobs.start_scheduler,
which runs in one process only); `bounty jobs run` calls :func:`run_due`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from .models import Frequency

log = logging.getLogger(__name__)


def run_digest(period: Frequency, now: datetime | None = None, *,
               dry_run: bool = False) -> list[str]:
    """Compose one period's digests into the outbox, then send what is due."""
    from .outbox import drain_outbox
    from .services import compose_digests

    run = compose_digests(period, now, dry_run=dry_run)
    lines = [*run.lines, str(run)]
    if not dry_run:
        lines.append(f"outbox: {drain_outbox(now)}")
    return lines


def run_due(now: datetime | None = None) -> list[str]:
    """Deadline reminders, then the outbox: what `bounty jobs run` does for the digests."""
    from .notifications import send_deadline_reminders
    from .outbox import drain_outbox

    lines = []
    if reminders := send_deadline_reminders(now):
        lines.append(f"deadline reminders recorded: {reminders}")
    result = drain_outbox(now)
    if result.sent or result.retried or result.failed or result.reclaimed:
        lines.append(f"outbox: {result}")
    return lines


def _in_context(app: Flask, job, *args):
    def run():
        with app.app_context():
            try:
                for line in job(*args):
                    log.info(line)
            except Exception:  # a failed run must not stop the scheduler; the next one retries
                log.exception("scheduled job %s failed", getattr(job, "__name__", job))
    return run


def add_jobs(scheduler, app: Flask) -> None:
    """Daily digest (08:00), weekly digest (Monday 08:00), outbox drain and reminders
    (every minute, or ``BOUNTY_JOB_INTERVAL_SECONDS``); times in the scheduler's zone,
    Asia/Shanghai."""
    config = app.config
    hour, minute = config["DIGEST_DAILY_HOUR"], config["DIGEST_DAILY_MINUTE"]
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 3600}
    scheduler.add_job(_in_context(app, run_digest, Frequency.daily), "cron", hour=hour,
                      minute=minute, id="digest_daily", **common)
    scheduler.add_job(_in_context(app, run_digest, Frequency.weekly), "cron",
                      day_of_week=config["DIGEST_WEEKLY_DAY"], hour=hour, minute=minute,
                      id="digest_weekly", **common)
    scheduler.add_job(_in_context(app, run_due), "interval",
                      seconds=config.get("BOUNTY_JOB_INTERVAL_SECONDS", 60), id="outbox_drain",
                      max_instances=1, coalesce=True)
