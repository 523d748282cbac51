"""audit key id; no per-account login lock

Revision ID: 7c3e5a9d2f14
Revises: 1081e4158f29
Create Date: 2026-12-02 08:20:00.000000

Events keep the id of the HMAC key that hashed them (NULL: before keying, plain
SHA-256). Failed logins are throttled per client address in the server
(bounty/accounts/throttling.py), so the per-account lock table goes.
"""
import sqlalchemy as sa
from alembic import op

import bounty.timeutil

# revision identifiers, used by Alembic.
revision = '7c3e5a9d2f14'
down_revision = '1081e4158f29'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=40), nullable=True))
    op.drop_table('login_attempts')


def downgrade():
    op.create_table('login_attempts',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', bounty.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('locked_until', bounty.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('email', name=op.f('pk_login_attempts'))
    )
    # plain DROP COLUMN (SQLite 3.35+): a batch copy would reflect users' expression index
    op.execute("ALTER TABLE audit_events DROP COLUMN key_id")
