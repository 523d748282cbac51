"""`bounty digests ...`: run a digest period by hand, drain the outbox."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .models import Frequency


@click.group("digests")
def digests_group() -> None:
    """Email digests and the outbox."""


@digests_group.command("send")
@click.option("--period", required=True, type=click.Choice(["daily", "weekly"]))
@click.option("--dry-run", is_flag=True, help="Show who would get which challenges; send nothing.")
@with_appcontext
def send_command(period: str, dry_run: bool) -> None:
    """Compose this period's digests (once per subscriber and period) and send them."""
    from .tasks import run_digest

    for line in run_digest(Frequency(period), dry_run=dry_run):
        click.echo(line)


@digests_group.command("drain")
@with_appcontext
def drain_command() -> None:
    """Send every due email of the outbox now."""
    from .outbox import drain_outbox

    click.echo(f"outbox: {drain_outbox()}")
