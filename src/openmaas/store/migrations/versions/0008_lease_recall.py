"""wallets.lease_recall_at: a process asks the others to give back their funds leases

Revision ID: 0008_lease_recall
Revises: 0007_fine_tuning
"""

import sqlalchemy as sa
from alembic import op

import openmaas.store.tables

revision = '0008_lease_recall'
down_revision = '0007_fine_tuning'
branch_labels = None
depends_on = None

UTC = openmaas.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('wallets') as batch:
        batch.add_column(sa.Column('lease_recall_at', UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('wallets') as batch:
        batch.drop_column('lease_recall_at')
