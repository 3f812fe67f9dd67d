"""Per-key limits (monthly budget, RPM/TPM, expiry); opt-in request bodies and preferences

Revision ID: 0013_key_limits
Revises: 0012_mcp_call_traces
"""

import sqlalchemy as sa
from alembic import op

import openmaas.store.tables

revision = '0013_key_limits'
down_revision = '0012_mcp_call_traces'
branch_labels = None
depends_on = None

UTC = openmaas.store.tables.UtcDateTime(timezone=True)
BIG = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('monthly_budget_micro', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('rpm_limit', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('tpm_limit', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('expires_at', UTC, nullable=True))
    op.create_table(
        'account_preferences',
        sa.Column('account_id', sa.String(40), sa.ForeignKey('accounts.id'), primary_key=True),
        sa.Column('store_bodies', sa.Boolean(), nullable=False),
        sa.Column('body_retention_days', sa.Integer(), nullable=False),
        sa.Column('updated_at', UTC, nullable=False),
    )
    op.create_table(
        'request_bodies',
        sa.Column('id', BIG, primary_key=True, autoincrement=True),
        sa.Column('account_id', sa.String(40), nullable=False),
        sa.Column('request_id', sa.String(128), nullable=False),
        sa.Column('request', sa.JSON(), nullable=False),
        sa.Column('response', sa.JSON(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('expires_at', UTC, nullable=False),
    )
    op.create_index('ix_request_bodies_account_request', 'request_bodies', ['account_id', 'request_id'])
    op.create_index('ix_request_bodies_expires_at', 'request_bodies', ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_request_bodies_expires_at', table_name='request_bodies')
    op.drop_index('ix_request_bodies_account_request', table_name='request_bodies')
    op.drop_table('request_bodies')
    op.drop_table('account_preferences')
    with op.batch_alter_table('api_keys') as batch:
        for column in ('expires_at', 'tpm_limit', 'rpm_limit', 'monthly_budget_micro'):
            batch.drop_column(column)
