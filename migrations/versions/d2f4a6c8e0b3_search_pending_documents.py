"""search_docs.pending, search_stats.last_seq, folded_seq, pending and search_retired: a
write stores its documents' rows only; their postings and frequencies are folded in
later, in bulk

Revision ID: d2f4a6c8e0b3
Revises: b7d9f1a3c5e8
Create Date: 2026-12-03 17:00:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'd2f4a6c8e0b3'
down_revision = 'b7d9f1a3c5e8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('search_stats') as batch_op:
        batch_op.add_column(sa.Column('last_seq', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('folded_seq', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('pending', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('search_docs') as batch_op:
        batch_op.add_column(sa.Column('pending', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    op.create_index('ix_search_docs_pending', 'search_docs', ['kind', 'seq'],
                    postgresql_where=sa.text('pending'), sqlite_where=sa.text('pending'))
    # every document written so far has its postings and frequencies: all folded
    op.execute("UPDATE search_stats SET last_seq = coalesce((SELECT max(d.seq) FROM "
               "search_docs d WHERE d.kind = search_stats.kind), 0), "
               "folded_seq = coalesce((SELECT max(d.seq) FROM search_docs d "
               "WHERE d.kind = search_stats.kind), 0)")
    op.create_table(
        'search_retired',
        sa.Column('docnum', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('terms', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                  'postgresql'), nullable=True),
        sa.PrimaryKeyConstraint('docnum', name=op.f('pk_search_retired')),
    )
    op.create_index('ix_search_retired_kind_seq', 'search_retired', ['kind', 'seq'])


def downgrade():
    # documents still pending lose their place in the postings: run `bounty reindex`
    op.drop_index('ix_search_retired_kind_seq', table_name='search_retired')
    op.drop_table('search_retired')
    op.drop_index('ix_search_docs_pending', table_name='search_docs')
    with op.batch_alter_table('search_docs') as batch_op:
        batch_op.drop_column('pending')
    with op.batch_alter_table('search_stats') as batch_op:
        batch_op.drop_column('pending')
        batch_op.drop_column('folded_seq')
        batch_op.drop_column('last_seq')
