"""one decision table: registry decisions join review_decisions

Revision ID: c4e2a8b6d0f1
Revises: b3d1f0a7c2e5
Create Date: 2026-12-02 13:20:00.000000

Every decision of a certification application or a market listing moves from
registry_decisions into review_decisions with its stage (certification, listing),
pointing at its item through certification_id or listing_id as review tasks do.
Nothing recorded is lost; the downgrade moves them back.
"""
import contextlib
import warnings

import sqlalchemy as sa
from alembic import op

import bounty.timeutil

# revision identifiers, used by Alembic.
revision = 'c4e2a8b6d0f1'
down_revision = 'b3d1f0a7c2e5'
branch_labels = None
depends_on = None



@contextlib.contextmanager
def _batch_review_decisions():
    """SQLite copies review_decisions; reflecting the tables it references reads users'
    expression index (lower(email)), which SQLite cannot reflect: users is not copied,
    so the index is not lost and the warning says nothing here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index")
        with op.batch_alter_table("review_decisions", schema=None) as batch_op:
            yield batch_op


COLUMNS = ["challenge_id", "certification_id", "listing_id", "outcome", "comment",
           "reviewer_id", "created_at", "task_id"]


def upgrade():
    with _batch_review_decisions() as batch_op:
        batch_op.add_column(sa.Column('certification_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('listing_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_review_decisions_certification_id'),
                              ['certification_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_decisions_listing_id'), ['listing_id'],
                              unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_review_decisions_certification_id_certification_applications'),
            'certification_applications', ['certification_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(
            batch_op.f('fk_review_decisions_listing_id_market_listings'),
            'market_listings', ['listing_id'], ['id'], ondelete='CASCADE')
        batch_op.create_check_constraint(
            batch_op.f('ck_review_decisions_one_subject'),
            'certification_id IS NULL OR listing_id IS NULL')

    columns = ", ".join(COLUMNS)
    op.execute(
        f"INSERT INTO review_decisions (stage, {columns}) "
        f"SELECT CASE WHEN certification_id IS NOT NULL THEN 'certification' "
        f"ELSE 'listing' END, {columns} FROM registry_decisions ORDER BY id")

    with op.batch_alter_table('registry_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registry_decisions_task_id'))
        batch_op.drop_index(batch_op.f('ix_registry_decisions_listing_id'))
        batch_op.drop_index(batch_op.f('ix_registry_decisions_challenge_id'))
        batch_op.drop_index(batch_op.f('ix_registry_decisions_certification_id'))
    op.drop_table('registry_decisions')


def downgrade():
    op.create_table('registry_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sa.Integer(), nullable=False),
    sa.Column('certification_id', sa.Integer(), nullable=True),
    sa.Column('listing_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('approve', 'return', 'reject', name='outcome', native_enum=False, length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('created_at', bounty.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("outcome = 'approve' OR length(comment) > 0", name=op.f('ck_registry_decisions_comment_required')),
    sa.CheckConstraint('(certification_id IS NULL) <> (listing_id IS NULL)', name=op.f('ck_registry_decisions_one_subject')),
    sa.ForeignKeyConstraint(['certification_id'], ['certification_applications.id'], name=op.f('fk_registry_decisions_certification_id_certification_applications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'], name=op.f('fk_registry_decisions_challenge_id_challenges'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['listing_id'], ['market_listings.id'], name=op.f('fk_registry_decisions_listing_id_market_listings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_registry_decisions_reviewer_id_users')),
    sa.ForeignKeyConstraint(['task_id'], ['review_tasks.id'], name=op.f('fk_registry_decisions_task_id_review_tasks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_decisions'))
    )
    with op.batch_alter_table('registry_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registry_decisions_certification_id'), ['certification_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_decisions_challenge_id'), ['challenge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_decisions_listing_id'), ['listing_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_decisions_task_id'), ['task_id'], unique=False)

    columns = ", ".join(COLUMNS)
    registry_stages = "stage IN ('certification', 'listing')"
    op.execute(f"INSERT INTO registry_decisions ({columns}) SELECT {columns} "
               f"FROM review_decisions WHERE {registry_stages} ORDER BY id")
    op.execute(f"DELETE FROM review_decisions WHERE {registry_stages}")

    with _batch_review_decisions() as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_review_decisions_one_subject'), type_='check')
        batch_op.drop_constraint(
            batch_op.f('fk_review_decisions_listing_id_market_listings'), type_='foreignkey')
        batch_op.drop_constraint(
            batch_op.f('fk_review_decisions_certification_id_certification_applications'),
            type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_review_decisions_listing_id'))
        batch_op.drop_index(batch_op.f('ix_review_decisions_certification_id'))
        batch_op.drop_column('listing_id')
        batch_op.drop_column('certification_id')
