"""search_docs, search_postings, search_terms, search_stats: the search index in the
database (SEARCH_BACKEND=postgres)

Revision ID: a6c8e0f2b4d1
Revises: f3a9c1d5e7b2
Create Date: 2026-12-03 10:40:00.000000

Created on both databases so the schema is one; only PostgreSQL ever fills them (the
backend refuses SQLite). The sequence ``search_seq`` orders writes against a rebuild.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

# revision identifiers, used by Alembic.
revision = 'a6c8e0f2b4d1'
down_revision = 'f3a9c1d5e7b2'
branch_labels = None
depends_on = None

FIELDS = ('title', 'keywords', 'body', 'grams')


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE SEQUENCE search_seq')
    op.create_table(
        'search_docs',
        sa.Column('docnum', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('doc_id', sa.String(length=64), nullable=False),
        sa.Column('live', sa.Boolean(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('industry', sa.String(length=64), nullable=True),
        sa.Column('category', sa.String(length=64), nullable=True),
        sa.Column('state', sa.String(length=32), nullable=True),
        sa.Column('org_id', sa.String(length=64), nullable=True),
        sa.Column('challenge_id', sa.String(length=64), nullable=True),
        sa.Column('bounty', sa.BigInteger(), nullable=True),
        sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('terms', sa.JSON().with_variant(JSONB(), 'postgresql'), nullable=False),
        sa.Column('hash', sa.String(length=32), nullable=False),
        *(sa.Column(f'len_{f}', sa.Integer(), nullable=False) for f in FIELDS),
        sa.PrimaryKeyConstraint('docnum', name=op.f('pk_search_docs')),
        sa.UniqueConstraint('kind', 'doc_id', name='uq_search_docs_kind_doc_id'),
    )
    op.create_index('ix_search_docs_kind_state', 'search_docs', ['kind', 'state'])
    op.create_index('ix_search_docs_kind_challenge_id', 'search_docs', ['kind', 'challenge_id'])
    op.create_table(
        'search_postings',
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('term', sa.Text(), nullable=False),
        sa.Column('docnum', sa.BigInteger(), nullable=False),
        *(sa.Column(f'tf_{f}', sa.SmallInteger(), nullable=False) for f in FIELDS),
        sa.PrimaryKeyConstraint('kind', 'term', 'docnum', name=op.f('pk_search_postings'),
                                postgresql_include=[f'tf_{f}' for f in FIELDS]),
    )
    op.create_table(
        'search_terms',
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('term', sa.Text(), nullable=False),
        *(sa.Column(f'df_{f}', sa.Integer(), nullable=False) for f in FIELDS),
        sa.PrimaryKeyConstraint('kind', 'term', name=op.f('pk_search_terms')),
    )
    op.create_table(
        'search_stats',
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('docs', sa.BigInteger(), nullable=False),
        sa.Column('rebuild_seq', sa.BigInteger(), nullable=True),
        *(sa.Column(f'len_{f}', sa.BigInteger(), nullable=False) for f in FIELDS),
        sa.PrimaryKeyConstraint('kind', name=op.f('pk_search_stats')),
    )


def downgrade():
    op.drop_table('search_stats')
    op.drop_table('search_terms')
    op.drop_table('search_postings')
    op.drop_index('ix_search_docs_kind_challenge_id', table_name='search_docs')
    op.drop_index('ix_search_docs_kind_state', table_name='search_docs')
    op.drop_table('search_docs')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP SEQUENCE search_seq')
