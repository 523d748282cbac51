"""The ``bounty`` command: a Flask CLI group bound to create_app()."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

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
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Do not run scheduled jobs in this process.")
@with_appcontext
def serve_command(host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Serve the platform with waitress (and run scheduled jobs)."""
    from waitress import serve

    from .jobs import start_scheduler
    from .matching import start_embedding_worker

    app = current_app._get_current_object()
    if not no_scheduler:
        start_scheduler(app)
        start_embedding_worker(app)
    click.echo(f"bounty serving on http://{host}:{port}/")
    serve(app, host=host, port=port, threads=threads)


@click.group("jobs")
def jobs_group() -> None:
    """Scheduled jobs."""


@jobs_group.command("run")
@with_appcontext
def jobs_run() -> None:
    """Run every due job once (closes bidding past the deadline, embeds changed documents,
    sends the outbox)."""
    from .jobs import run_due_jobs

    for line in run_due_jobs(embed=True):
        click.echo(line)


@click.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check the hash chain; report the first event that was altered."""
    from .audit import verify_chain

    result = verify_chain()
    if result.ok:
        click.echo(f"ok: {result.checked} events, chain intact")
        return
    if result.missing_seq is not None:
        fail(f"event {result.missing_seq} is missing (deleted): {result.reason}")
    if result.first_bad is not None:
        event = result.first_bad
        fail(f"event {event.seq} (id {event.id}, {event.action}) was altered: {result.reason}")
    fail(result.reason)


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


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load demo data (idempotent) and print the demo logins."""
    from .demo import load_demo

    for line in load_demo():
        click.echo(line)


def register_commands(app: Flask) -> None:
    from .digests.cli import digests_group
    from .matching.cli import embed_command, match_cli, reindex_command
    from .review.cli import holidays_group

    for command in (serve_command, jobs_group, audit_group, users_group, demo_command,
                    match_cli, reindex_command, embed_command, digests_group, holidays_group):
        app.cli.add_command(command)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False)
def main() -> None:
    """bounty — 揭榜挂帅 platform."""
