"""indexes for the list pages' filters and keyset sorts

Revision ID: c41d7e9a5b20
Revises: 5d1e7c0b9a42
Create Date: 2026-12-02 14:00:00.000000

我的揭榜 (a bid's organisation, newest first), 我的榜单 (a challenge's organisation, most
recently changed first), the admin lists of users and organisations (newest first) and a
challenge's audit trail (in chain order) each read one index range in the order they
show, so a page seeks to its key instead of sorting every row (bounty/keyset.py).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c41d7e9a5b20'
down_revision = '5d1e7c0b9a42'
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_bids_organization_created", "bids", ["organization_id", "created_at", "id"]),
    ("ix_challenges_organization_updated", "challenges",
     ["organization_id", "updated_at", "id"]),
    ("ix_users_created", "users", ["created_at", "id"]),
    ("ix_organizations_created", "organizations", ["created_at", "id"]),
    ("ix_audit_events_challenge_seq", "audit_events", ["challenge_id", "seq"]),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
