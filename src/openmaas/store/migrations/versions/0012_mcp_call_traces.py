"""MCP call traces: each MCP tool call the platform made for a request, per account

Revision ID: 0012_mcp_call_traces
Revises: 0011_meter
"""

import sqlalchemy as sa
from alembic import op

import openmaas.store.tables

revision = '0012_mcp_call_traces'
down_revision = '0011_meter'
branch_labels = None
depends_on = None

UTC = openmaas.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'mcp_call_traces',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('request_id', sa.String(length=128), nullable=False),
        sa.Column('endpoint', sa.String(length=64), nullable=False),
        sa.Column('server_label', sa.String(length=200), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('arguments', sa.Text(), nullable=False),
        sa.Column('output', sa.Text(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_mcp_traces_account_request', 'mcp_call_traces', ['account_id', 'request_id'])
    op.create_index('ix_mcp_traces_created', 'mcp_call_traces', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_mcp_traces_created', table_name='mcp_call_traces')
    op.drop_index('ix_mcp_traces_account_request', table_name='mcp_call_traces')
    op.drop_table('mcp_call_traces')
