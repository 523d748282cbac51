"""``bounty stats rebuild``: recount the statistics' tables from the database."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..extensions import db
from .backfill import rebuild


@click.group("stats")
def stats_group() -> None:
    """The statistics page's running counts and stage stays."""


@stats_group.command("rebuild")
@with_appcontext
def rebuild_command() -> None:
    """Recount every figure and stage stay from the source tables and the audit log (they
    are kept current as the platform changes; this repairs them after a manual edit)."""
    with db.engine.begin() as connection:
        counts, stays = rebuild(connection)
    click.echo(f"{counts} counts, {stays} stage stays")
