"""The meter: reservation owners, meter owners and in-flight progress, usage breakdowns

Revision ID: 0011_meter
Revises: 0010_agent_apis
"""

import sqlalchemy as sa
from alembic import op

import openmaas.store.tables

revision = '0011_meter'
down_revision = '0010_agent_apis'
branch_labels = None
depends_on = None

UTC = openmaas.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('reservations') as batch:
        batch.add_column(sa.Column('owner', sa.String(40), nullable=True))
        batch.create_index('ix_reservations_owner', ['owner'])
    with op.batch_alter_table('usage_records') as batch:
        batch.add_column(sa.Column('cached_tokens', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('reasoning_tokens', sa.Integer(), nullable=False, server_default='0'))
    op.create_table(
        'meter_owners',
        sa.Column('owner', sa.String(40), primary_key=True),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('started_at', UTC, nullable=False),
        sa.Column('heartbeat_at', UTC, nullable=False),
    )
    op.create_table(
        'meter_inflight',
        sa.Column('id', sa.String(40), primary_key=True),
        sa.Column('owner', sa.String(40), nullable=False),
        sa.Column('account_id', sa.String(40), nullable=False),
        sa.Column('api_key_id', sa.String(40), nullable=True),
        sa.Column('request_id', sa.String(128), nullable=False),
        sa.Column('endpoint', sa.String(64), nullable=False),
        sa.Column('model', sa.String(128), nullable=False),
        sa.Column('reservation_id', sa.String(40), nullable=True),
        sa.Column('price_in', sa.BigInteger(), nullable=False),
        sa.Column('price_out', sa.BigInteger(), nullable=False),
        sa.Column('max_tokens', sa.Integer(), nullable=False),
        sa.Column('prompt_tokens', sa.Integer(), nullable=False),
        sa.Column('completion_tokens', sa.Integer(), nullable=False),
        sa.Column('updated_at', UTC, nullable=False),
    )
    op.create_index('ix_meter_inflight_owner', 'meter_inflight', ['owner'])


def downgrade() -> None:
    op.drop_index('ix_meter_inflight_owner', table_name='meter_inflight')
    op.drop_table('meter_inflight')
    op.drop_table('meter_owners')
    with op.batch_alter_table('usage_records') as batch:
        batch.drop_column('reasoning_tokens')
        batch.drop_column('cached_tokens')
    with op.batch_alter_table('reservations') as batch:
        batch.drop_index('ix_reservations_owner')
        batch.drop_column('owner')
