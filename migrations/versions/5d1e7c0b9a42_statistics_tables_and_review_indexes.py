"""statistics kept current (stats_counts, stats_stage_stays, backfilled from the
database and the audit log); indexes for the review queue, the review lists and exports

Revision ID: 5d1e7c0b9a42
Revises: c4e2a8b6d0f1
Create Date: 2026-12-02 13:30:00.000000

The statistics page read every transition in the audit log on each request; from here
on bounty.stats.tracking keeps running counts and each item's stays in a state, in
the transaction of the change. This migration fills both from what is there
(bounty.stats.backfill, which `bounty stats rebuild` also uses).
"""
import sqlalchemy as sa
from alembic import op

from bounty.stats.backfill import rebuild
from bounty.timeutil import UTCDateTime

# revision identifiers, used by Alembic.
revision = '5d1e7c0b9a42'
down_revision = 'c4e2a8b6d0f1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stats_counts',
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('a', sa.String(length=40), nullable=False),
        sa.Column('b', sa.String(length=40), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'a', 'b', name=op.f('pk_stats_counts')),
    )
    op.create_table(
        'stats_stage_stays',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subject_type', sa.String(length=30), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=30), nullable=False),
        sa.Column('entered_at', UTCDateTime(), nullable=False),
        sa.Column('left_at', UTCDateTime(), nullable=True),
        sa.Column('days', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stats_stage_stays')),
    )
    op.create_index('ix_stats_stage_stays_subject', 'stats_stage_stays',
                    ['subject_type', 'subject_id', 'left_at'])
    op.create_index('ix_stats_stage_stays_days', 'stats_stage_stays',
                    ['subject_type', 'state', 'days'])
    open_only = {"sqlite_where": sa.text("closed_at IS NULL"),
                 "postgresql_where": sa.text("closed_at IS NULL")}
    op.create_index('ix_review_tasks_queue_due', 'review_tasks',
                    ['due_at', 'item_key', 'slot'], **open_only)
    op.create_index('ix_review_tasks_queue_age', 'review_tasks',
                    ['opened_at', 'item_key', 'slot'], **open_only)
    op.create_index('ix_review_tasks_assignee_due', 'review_tasks',
                    ['assignee_id', 'due_at', 'item_key', 'slot'], **open_only)
    op.create_index('ix_review_tasks_export', 'review_tasks',
                    ['opened_at', 'item_key', 'stage', 'round', 'slot'])
    op.create_index('ix_challenges_review_queue', 'challenges', ['state', 'updated_at', 'id'])
    rebuild(op.get_bind())


def downgrade():
    op.drop_index('ix_challenges_review_queue', table_name='challenges')
    op.drop_index('ix_review_tasks_export', table_name='review_tasks')
    op.drop_index('ix_review_tasks_assignee_due', table_name='review_tasks')
    op.drop_index('ix_review_tasks_queue_age', table_name='review_tasks')
    op.drop_index('ix_review_tasks_queue_due', table_name='review_tasks')
    op.drop_index('ix_stats_stage_stays_days', table_name='stats_stage_stays')
    op.drop_index('ix_stats_stage_stays_subject', table_name='stats_stage_stays')
    op.drop_table('stats_stage_stays')
    op.drop_table('stats_counts')
