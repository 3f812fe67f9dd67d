"""api_keys.scope (inference | manage | admin) and grant_claims (one free grant per person)

Existing keys become inference keys: managing keys, the account, billing actions and admin
routes then need a console session or a key created with the manage/admin scope.

Revision ID: 0009_key_scopes
Revises: 0008_lease_recall
"""

import sqlalchemy as sa
from alembic import op

import openmaas.store.tables

revision = '0009_key_scopes'
down_revision = '0008_lease_recall'
branch_labels = None
depends_on = None

UTC = openmaas.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('scope', sa.String(length=16), nullable=False,
                                   server_default='inference'))
    op.create_table(
        'grant_claims',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('digest'),
    )


def downgrade() -> None:
    op.drop_table('grant_claims')
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('scope')
