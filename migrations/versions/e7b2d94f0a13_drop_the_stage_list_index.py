"""drop ix_challenges_review_queue, the index of the per-stage review lists

Revision ID: e7b2d94f0a13
Revises: c41d7e9a5b20
Create Date: 2026-12-02 16:45:00.000000

The per-stage lists it served (a stage's challenges by state, oldest change first) are
redirects to the task queue now, which reads review_tasks; no query filters challenges
by state and sorts by updated_at any more (a state alone reads ix_challenges_state).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e7b2d94f0a13'
down_revision = 'c41d7e9a5b20'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_challenges_review_queue', table_name='challenges')


def downgrade():
    op.create_index('ix_challenges_review_queue', 'challenges', ['state', 'updated_at', 'id'])
