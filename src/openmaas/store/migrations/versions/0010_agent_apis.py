"""agent APIs: stored Responses, account-defined assistants and their conversations

Revision ID: 0010_agent_apis
Revises: 0009_key_scopes
"""

import sqlalchemy as sa
from alembic import op

import openmaas.store.tables

revision = '0010_agent_apis'
down_revision = '0009_key_scopes'
branch_labels = None
depends_on = None

UTC = openmaas.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'agent_responses',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('model', sa.String(length=128), nullable=False),
        sa.Column('previous_response_id', sa.String(length=64), nullable=True),
        sa.Column('input_items', sa.JSON(), nullable=False),
        sa.Column('body', sa.JSON(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_agent_responses_account_created', 'agent_responses', ['account_id', 'created_at'])
    op.create_table(
        'agent_assistants',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('instructions', sa.Text(), nullable=False),
        sa.Column('model', sa.String(length=128), nullable=False),
        sa.Column('tools', sa.JSON(), nullable=False),
        sa.Column('starter_prompts', sa.JSON(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('updated_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_agent_assistants_account_id', 'agent_assistants', ['account_id'])
    op.create_table(
        'agent_conversations',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('assistant_id', sa.String(length=64), nullable=False),
        sa.Column('messages', sa.JSON(), nullable=False),
        sa.Column('prompt_tokens', sa.BigInteger(), nullable=False),
        sa.Column('completion_tokens', sa.BigInteger(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('updated_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_agent_conversations_assistant', 'agent_conversations',
                    ['account_id', 'assistant_id'])


def downgrade() -> None:
    op.drop_index('ix_agent_conversations_assistant', table_name='agent_conversations')
    op.drop_table('agent_conversations')
    op.drop_index('ix_agent_assistants_account_id', table_name='agent_assistants')
    op.drop_table('agent_assistants')
    op.drop_index('ix_agent_responses_account_created', table_name='agent_responses')
    op.drop_table('agent_responses')
