"""stored_files and file_chunks: uploaded files kept in the database (UPLOAD_STORE=database)

Revision ID: f3a9c1d5e7b2
Revises: e7b2d94f0a13
Create Date: 2026-12-03 07:50:00.000000

A file is one row of stored_files (its area, generated name, size and time) and its bytes
rows of file_chunks of at most 256 KB each, read back one at a time by a download.
"""
import sqlalchemy as sa
from alembic import op

from bounty.timeutil import UTCDateTime

# revision identifiers, used by Alembic.
revision = 'f3a9c1d5e7b2'
down_revision = 'e7b2d94f0a13'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stored_files',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('area', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stored_files')),
        sa.UniqueConstraint('area', 'name', name='uq_stored_files_area_name'),
    )
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stored_files_created_at'), ['created_at'],
                              unique=False)
    op.create_table(
        'file_chunks',
        sa.Column('file_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['file_id'], ['stored_files.id'],
                                name=op.f('fk_file_chunks_file_id_stored_files'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('file_id', 'seq', name=op.f('pk_file_chunks')),
    )


def downgrade():
    op.drop_table('file_chunks')
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stored_files_created_at'))
    op.drop_table('stored_files')
