"""search_docs (kind, seq): each process's copy of the documents' columns catches up
on the rows written since it last looked

Revision ID: b7d9f1a3c5e8
Revises: a6c8e0f2b4d1
Create Date: 2026-12-03 14:00:00.000000
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b7d9f1a3c5e8'
down_revision = 'a6c8e0f2b4d1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_search_docs_kind_seq', 'search_docs', ['kind', 'seq'])


def downgrade():
    op.drop_index('ix_search_docs_kind_seq', table_name='search_docs')
