"""Scheduled jobs, run by `bounty serve` (one process only) or `bounty jobs run`."""

from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)


def run_due_jobs(now=None) -> list[str]:
    """Run every due job once; return a line per thing done."""
    from .challenges.services import close_due_challenges
    from .digests.tasks import run_due as run_due_digest_jobs

    lines = []
    for challenge in close_due_challenges(now):
        lines.append(f"closed bidding on challenge {challenge.id}: {challenge.state.value}")
    lines += run_due_digest_jobs(now)
    if not lines:
        lines.append("nothing due")
    return lines


def start_scheduler(app: Flask):
    """Start APScheduler (Asia/Shanghai) unless another process already runs it."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from .schedlock import acquire_scheduler_lock

    if not acquire_scheduler_lock(app):
        log.info("another process runs the scheduler; this one serves only")
        return None
    scheduler = BackgroundScheduler(timezone=app.config["BOUNTY_TIMEZONE"])

    def close_deadlines():
        with app.app_context():
            for line in run_due_jobs():
                log.info(line)

    scheduler.add_job(close_deadlines, "interval", minutes=1, id="close_deadlines",
                      max_instances=1, coalesce=True)
    from .digests.tasks import add_jobs as add_digest_jobs

    add_digest_jobs(scheduler, app)
    scheduler.start()
    app.extensions["bounty_scheduler"] = scheduler
    return scheduler
