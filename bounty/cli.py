"""The ``bounty`` command: a Flask CLI group bound to create_app()."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from .config import public_url_from_env
from .errors import DomainError


def _create_app(*_args, **_kwargs) -> Flask:
    from . import create_app

    return create_app()


def fail(message: str) -> None:
    """Exit with status 1 and a one-line cause."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int,
              help="Threads of each web process.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Web processes: 1 serves with waitress; more with gunicorn, web work only "
                   "(run `bounty worker` beside them).")
@click.option("--no-scheduler", is_flag=True,
              help="Do not run scheduled jobs in this process (run `bounty worker`).")
@click.option("--demo", is_flag=True, envvar="BOUNTY_DEMO",
              help="This is a demo: serve even with the demo logins present (or BOUNTY_DEMO=1).")
@with_appcontext
def serve_command(host: str, port: int, threads: int, workers: int, no_scheduler: bool,
                  demo: bool) -> None:
    """Serve the platform with waitress (and run scheduled jobs), or with several gunicorn
    processes (--workers)."""
    from .jobs import start_scheduler
    from .matching import enable_healing, start_embedding_worker
    from .production import demo_logins

    app = current_app._get_current_object()
    if public_url_from_env() is None:
        # Links in emails lead where this process actually serves.
        app.config["PUBLIC_URL"] = served_url(host, port)
    check_configuration(app)
    present = demo_logins()
    if present and not demo:
        fail(f"demo logins with the published password are present ({', '.join(present)}): "
             "serve a demo with --demo or BOUNTY_DEMO=1, or disable them or change their "
             "passwords")
    scheduler = not no_scheduler and workers == 1
    for line in banner(app, host, port, scheduler=scheduler, workers=workers):
        click.echo(line)
    if workers > 1:
        from .extensions import db
        from .webserver import serve_processes

        # no database connection of this process crosses the fork
        db.session.remove()
        db.engine.dispose()
        serve_processes(_create_app, host, port, workers, threads, app.config["PUBLIC_URL"])
        return
    from waitress import serve

    enable_healing(app)
    if scheduler:
        start_scheduler(app)
        start_embedding_worker(app)
    serve(app, host=host, port=port, threads=threads)


def check_configuration(app: Flask) -> None:
    """Refuse to start in production without its keys; print the warnings."""
    from .production import configuration_problems, configuration_warnings

    problems = configuration_problems(app.config)
    if problems:
        fail("not starting in production: " + "; ".join(problems))
    for warning in configuration_warnings(app.config):
        click.echo(f"warning: {warning}", err=True)


@click.command("worker")
@with_appcontext
def worker_command() -> None:
    """Run the scheduled jobs and the embedding worker, serving no HTTP (one at a time:
    a second worker stands by and takes over when the first stops)."""
    from .worker import run_worker

    app = current_app._get_current_object()
    check_configuration(app)
    for line in mail_lines(app.config):
        click.echo(line)
    stopped_by = run_worker(app, lambda line: click.echo(line))
    click.echo(f"bounty worker stopped ({stopped_by})")


def served_url(host: str, port: int) -> str:
    """The URL of a server listening on host:port (a wildcard address: this machine)."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def banner(app: Flask, host: str, port: int, *, scheduler: bool, workers: int = 1) -> list[str]:
    """What `bounty serve` says at start: where it serves, where emails go, which links
    they carry."""
    processes = f", {workers} processes" if workers > 1 else ""
    lines = [f"bounty serving on {served_url(host, port)}/{processes}  (Ctrl-C to stop)",
             *mail_lines(app.config)]
    if not scheduler:
        lines.append("scheduled jobs: off in the web processes; run `bounty worker` beside "
                     "them (or `bounty jobs run` now and then)")
    return lines


def mail_lines(config) -> list[str]:  # noqa: ANN001
    """Where this process's emails go and which links they carry."""
    if config.get("MAIL_SERVER"):
        lines = [f"mail: sent over SMTP to {config['MAIL_SERVER']}:{config['MAIL_PORT']}"]
    else:
        lines = ["mail: MAIL_SERVER is not set: every email (headers and text) is printed "
                 "here, none is sent"]
    lines.append(f"links in emails: {config['PUBLIC_URL']}  (set PUBLIC_URL to change)")
    return lines


@click.group("jobs")
def jobs_group() -> None:
    """Scheduled jobs."""


@jobs_group.command("run")
@with_appcontext
def jobs_run() -> None:
    """Run every due job once (closes bidding past the deadline, embeds changed documents,
    removes orphaned and expired pending uploads, sends the outbox)."""
    from .jobs import run_due_jobs

    for line in run_due_jobs(embed=True, sweep=True):
        click.echo(line)


@click.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
@click.option("--head", "head", default=None,
              help="An exported head (seq:hash from `bounty audit anchor`) the chain must hold.")
@click.option("--head-file", type=click.File("r"), default=None,
              help="Read the exported head from this file.")
@with_appcontext
def audit_verify(head: str | None, head_file) -> None:  # noqa: ANN001
    """Check the keyed hash chain; report the first event that was altered."""
    from .audit import verify_chain
    from .audit_keys import AuditKeyError

    if head_file is not None:
        head = head_file.read()
    try:
        result = verify_chain(head)
    except (ValueError, AuditKeyError) as exc:
        fail(str(exc))
    if result.ok:
        suffix = f", holds the exported head {head.strip().split(':')[0]}" if head else ""
        click.echo(f"ok: {result.checked} events, chain intact{suffix}")
        return
    if result.missing_seq is not None:
        fail(f"event {result.missing_seq} is missing (deleted): {result.reason}")
    if result.first_bad is not None:
        event = result.first_bad
        fail(f"event {event.seq} (id {event.id}, {event.action}) was altered: {result.reason}")
    fail(result.reason)


@audit_group.command("anchor")
@with_appcontext
def audit_anchor() -> None:
    """Print the chain's head (seq:hash): keep it outside the database, and check it later
    with `bounty audit verify --head`."""
    from .audit import anchor

    click.echo(anchor())


@click.group("users")
def users_group() -> None:
    """Manage users."""


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["reviewer", "admin"]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--org-uscc", default=None, help="USCC of the government body (reviewers).")
@with_appcontext
def users_create(email: str, name: str, role: str, password: str, org_uscc: str | None) -> None:
    """Create a reviewer or an admin (never self-registered)."""
    import sqlalchemy as sa

    from .accounts.models import Organization, Role
    from .accounts.services import create_user
    from .extensions import db

    organization = None
    if org_uscc:
        organization = db.session.execute(
            sa.select(Organization).where(Organization.uscc == org_uscc.strip().upper())
        ).scalar_one_or_none()
        if organization is None:
            fail(f"no organisation with USCC {org_uscc}")
    try:
        user = create_user(email=email, name=name, password=password, role=Role(role),
                           organization=organization)
    except DomainError as exc:
        fail(exc.message)
    click.echo(f"created {user.role} {user.email} (id {user.id})")


@click.command("init")
@click.option("--admin-email", envvar="BOUNTY_ADMIN_EMAIL", help="The first admin's email "
              "(or BOUNTY_ADMIN_EMAIL).")
@click.option("--admin-name", envvar="BOUNTY_ADMIN_NAME", default="平台管理员", show_default=True,
              help="The first admin's name (or BOUNTY_ADMIN_NAME).")
@with_appcontext
def init_command(admin_email: str | None, admin_name: str) -> None:
    """Set up a production instance: migrate the database and create the first admin
    (password from BOUNTY_ADMIN_PASSWORD, else asked for); no demo data."""
    import os

    from flask_migrate import upgrade

    from .production import (
        configuration_problems,
        configuration_warnings,
        create_first_admin,
        has_admin,
    )

    problems = configuration_problems(current_app.config)
    if problems:
        fail("; ".join(problems))
    for warning in configuration_warnings(current_app.config):
        click.echo(f"warning: {warning}", err=True)
    upgrade()
    click.echo("database: migrated to the latest schema")
    if has_admin():
        click.echo("admin: one exists already, none created")
        return
    if not admin_email:
        fail("no admin yet: give --admin-email (or BOUNTY_ADMIN_EMAIL)")
    password = os.environ.get("BOUNTY_ADMIN_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            fail("set BOUNTY_ADMIN_PASSWORD, or run in a terminal to be asked for it")
        password = click.prompt("password for the first admin", hide_input=True,
                                confirmation_prompt=True)
    try:
        user = create_first_admin(admin_email, admin_name, password)
    except DomainError as exc:
        fail(exc.message)
    click.echo(f"admin: created {user.email} (id {user.id})")


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load demo data (idempotent) and print the demo logins."""
    from .demo import load_demo

    for line in load_demo():
        click.echo(line)


def register_commands(app: Flask) -> None:
    from .backup import backup_command, restore_command
    from .digests.cli import digests_group
    from .matching.cli import embed_command, match_cli, reindex_command
    from .review.cli import holidays_group
    from .stats.cli import stats_group

    for command in (serve_command, worker_command, init_command, backup_command,
                    restore_command, jobs_group, audit_group, users_group, demo_command,
                    match_cli, reindex_command, embed_command, digests_group, holidays_group,
                    stats_group):
        app.cli.add_command(command)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False)
def main() -> None:
    """bounty — 揭榜挂帅 platform."""
