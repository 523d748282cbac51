"""Scheduled jobs, run by `bounty worker` or `bounty serve` (one process only: the scheduler
lock), or once by `bounty jobs run`."""

from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)


def run_due_jobs(now=None, *, embed: bool = False, sweep: bool = False) -> list[str]:
    """Run every due job once; return a line per thing done.

    ``embed`` also runs the queued vector jobs (``bounty jobs run``; a serving process
    has its own embedding worker thread instead); ``sweep`` also removes orphaned
    uploads and expired pending ones (hourly in a serving process).
    """
    from .challenges.services import close_due_challenges
    from .digests.tasks import run_due as run_due_digest_jobs
    from .review.assignment import check_overdue

    lines = []
    for challenge in close_due_challenges(now):
        lines.append(f"closed bidding on challenge {challenge.id}: {challenge.state.value}")
    for task in check_overdue(now):
        lines.append(f"review overdue: {task.item_key} at {task.stage.value} "
                     f"(task {task.id}, challenge {task.challenge_id})")
    if embed:
        from .extensions import db
        from .matching import get_matcher
        from .matching.embedding import run_jobs

        embedder = get_matcher().embedder
        if embedder is not None and (n := run_jobs(db.engine, embedder)):
            lines.append(f"embedded the documents of {n} vector jobs")
    if sweep:
        lines += discard_orphan_files()
    # Last: drain the outbox, so the emails the jobs above queued go out in this run.
    lines += run_due_digest_jobs(now)
    if not lines:
        lines.append("nothing due")
    return lines


def discard_orphan_files() -> list[str]:
    """Remove uploaded files that no row refers to (a rolled-back or crashed upload) and
    pending uploads past their lifetime."""
    from .challenges.attachments import discard_orphans
    from .registry.services import discard_orphan_documents

    removed = discard_orphans() + discard_orphan_documents()
    return [f"removed {removed} orphaned or expired pending uploads"] if removed else []


def start_scheduler(app: Flask):
    """Start APScheduler (Asia/Shanghai) unless another process already runs it."""
    from .schedlock import acquire_scheduler_lock

    if not acquire_scheduler_lock(app):
        log.info("another process runs the scheduler; this one serves only")
        return None
    return start_locked_scheduler(app)


def start_locked_scheduler(app: Flask):
    """Start APScheduler in this process, which holds the scheduler lock already.

    The interval jobs (deadlines and overdue reviews, the outbox) run every
    ``BOUNTY_JOB_INTERVAL_SECONDS`` (60).
    """
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone=app.config["BOUNTY_TIMEZONE"])
    interval = app.config.get("BOUNTY_JOB_INTERVAL_SECONDS", 60)

    def close_deadlines():
        with app.app_context():
            for line in run_due_jobs():
                log.info(line)

    scheduler.add_job(close_deadlines, "interval", seconds=interval, id="close_deadlines",
                      max_instances=1, coalesce=True)

    def sweep_uploads():
        with app.app_context():
            try:
                for line in discard_orphan_files():
                    log.info(line)
            except Exception:  # a failed sweep must not stop the scheduler; the next retries
                log.exception("sweeping orphaned upload files failed")

    scheduler.add_job(sweep_uploads, "interval", hours=1, id="discard_orphans",
                      max_instances=1, coalesce=True)
    from .digests.tasks import add_jobs as add_digest_jobs

    add_digest_jobs(scheduler, app)
    scheduler.start()
    app.extensions["bounty_scheduler"] = scheduler
    return scheduler
