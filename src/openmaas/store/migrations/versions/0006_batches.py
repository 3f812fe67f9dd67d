"""batches and their per-request results

Revision ID: 0006_batches
Revises: 0005_files_knowledge
"""

import sqlalchemy as sa
from alembic import op

import openmaas.store.tables

revision = '0006_batches'
down_revision = '0005_files_knowledge'
branch_labels = None
depends_on = None

UTC = openmaas.store.tables.UtcDateTime(timezone=True)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'batches',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('api_key_id', sa.String(length=40), nullable=True),
        sa.Column('endpoint', sa.String(length=64), nullable=False),
        sa.Column('input_file_id', sa.String(length=64), nullable=False),
        sa.Column('completion_window', sa.String(length=16), nullable=True),
        sa.Column('model', sa.String(length=128), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('auto_delete_input_file', sa.Boolean(), nullable=False),
        sa.Column('metadata', sa.JSON(), nullable=True),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('completed', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('next_index', sa.Integer(), nullable=False),
        sa.Column('prompt_tokens', BIGINT, nullable=False),
        sa.Column('completion_tokens', BIGINT, nullable=False),
        sa.Column('output_file_id', sa.String(length=64), nullable=True),
        sa.Column('error_file_id', sa.String(length=64), nullable=True),
        sa.Column('errors', sa.JSON(), nullable=True),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('expires_at', UTC, nullable=True),
        sa.Column('in_progress_at', UTC, nullable=True),
        sa.Column('finalizing_at', UTC, nullable=True),
        sa.Column('completed_at', UTC, nullable=True),
        sa.Column('failed_at', UTC, nullable=True),
        sa.Column('expired_at', UTC, nullable=True),
        sa.Column('cancelling_at', UTC, nullable=True),
        sa.Column('cancelled_at', UTC, nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_batches_account_created', 'batches', ['account_id', 'created_at'])
    op.create_table(
        'batch_results',
        sa.Column('batch_id', sa.String(length=64), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('line', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('batch_id', 'position'),
    )


def downgrade() -> None:
    op.drop_table('batch_results')
    op.drop_index('ix_batches_account_created', table_name='batches')
    op.drop_table('batches')
