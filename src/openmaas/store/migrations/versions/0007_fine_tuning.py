"""fine-tuning jobs, their events and the per-account fine-tuned model registry

Revision ID: 0007_fine_tuning
Revises: 0006_batches
"""

import sqlalchemy as sa
from alembic import op

import openmaas.store.tables

revision = '0007_fine_tuning'
down_revision = '0006_batches'
branch_labels = None
depends_on = None

UTC = openmaas.store.tables.UtcDateTime(timezone=True)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'fine_tuning_jobs',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('api_key_id', sa.String(length=40), nullable=True),
        sa.Column('request_id', sa.String(length=128), nullable=True),
        sa.Column('model', sa.String(length=128), nullable=False),
        sa.Column('base_model', sa.String(length=128), nullable=False),
        sa.Column('training_file', sa.String(length=64), nullable=False),
        sa.Column('validation_file', sa.String(length=64), nullable=True),
        sa.Column('suffix', sa.String(length=64), nullable=True),
        sa.Column('hyperparameters', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('fine_tuned_model', sa.String(length=255), nullable=True),
        sa.Column('train_examples', sa.Integer(), nullable=False),
        sa.Column('validation_examples', sa.Integer(), nullable=False),
        sa.Column('estimated_tokens', BIGINT, nullable=False),
        sa.Column('trained_tokens', BIGINT, nullable=False),
        sa.Column('hold_id', sa.String(length=40), nullable=True),
        sa.Column('error', sa.JSON(), nullable=True),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('started_at', UTC, nullable=True),
        sa.Column('finished_at', UTC, nullable=True),
        sa.Column('deleted_at', UTC, nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_fine_tuning_jobs_account_created', 'fine_tuning_jobs',
                    ['account_id', 'created_at'])
    op.create_table(
        'fine_tuning_events',
        sa.Column('id', BIGINT, autoincrement=True, nullable=False),
        sa.Column('job_id', sa.String(length=64), nullable=False),
        sa.Column('level', sa.String(length=8), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=True),
        sa.Column('created_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_fine_tuning_events_job', 'fine_tuning_events', ['job_id', 'id'])
    op.create_table(
        'fine_tuned_models',
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('base_model', sa.String(length=128), nullable=False),
        sa.Column('job_id', sa.String(length=64), nullable=False),
        sa.Column('adapter_path', sa.Text(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_index('ix_fine_tuned_models_account', 'fine_tuned_models', ['account_id'])


def downgrade() -> None:
    op.drop_index('ix_fine_tuned_models_account', table_name='fine_tuned_models')
    op.drop_table('fine_tuned_models')
    op.drop_index('ix_fine_tuning_events_job', table_name='fine_tuning_events')
    op.drop_table('fine_tuning_events')
    op.drop_index('ix_fine_tuning_jobs_account_created', table_name='fine_tuning_jobs')
    op.drop_table('fine_tuning_jobs')
