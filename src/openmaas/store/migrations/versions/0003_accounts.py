"""accounts: passwords, verification codes, console sessions, real-name applications,
notification delivery

Revision ID: 0003_accounts
Revises: 0002_billing
Create Date: 2026-11-24 15:59:28.129407
"""

import sqlalchemy as sa
from alembic import op

import openmaas.store.tables

revision = '0003_accounts'
down_revision = '0002_billing'
branch_labels = None
depends_on = None

UtcDateTime = openmaas.store.tables.UtcDateTime
BigIntPk = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('account_credentials',
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('updated_at', UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('account_id')
    )
    op.create_table('verification_codes',
    sa.Column('id', BigIntPk, autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('target', sa.String(length=320), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('expires_at', UtcDateTime(timezone=True), nullable=False),
    sa.Column('consumed_at', UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.create_index('ix_vcodes_target_created', ['target', 'created_at'], unique=False)

    op.create_table('console_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('csrf_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', UtcDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_account_id'), ['account_id'], unique=False)

    op.create_table('verification_applications',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('subject_name', sa.String(length=200), nullable=False),
    sa.Column('identifier_sealed', sa.Text(), nullable=False),
    sa.Column('identifier_masked', sa.String(length=32), nullable=False),
    sa.Column('licence_blob', sa.String(length=255), nullable=True),
    sa.Column('licence_content_type', sa.String(length=64), nullable=True),
    sa.Column('reviewed_by', sa.String(length=40), nullable=True),
    sa.Column('reviewed_at', UtcDateTime(timezone=True), nullable=True),
    sa.Column('reject_reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('verification_applications', schema=None) as batch_op:
        batch_op.create_index('ix_vapps_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_verification_applications_account_id'), ['account_id'],
                              unique=False)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_at', UtcDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_notifications_delivered_at'), ['delivered_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_delivered_at'))
        batch_op.drop_column('delivered_at')

    with op.batch_alter_table('verification_applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_applications_account_id'))
        batch_op.drop_index('ix_vapps_status_created')
    op.drop_table('verification_applications')

    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_sessions_account_id'))
    op.drop_table('console_sessions')

    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_vcodes_target_created')
    op.drop_table('verification_codes')
    op.drop_table('account_credentials')
