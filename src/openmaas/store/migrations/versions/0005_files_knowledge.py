"""files, knowledge bases, documents, chunks, retrieval traces

Revision ID: 0005_files_knowledge
Revises: 0003_accounts

The SQLite-only virtual tables of the embedded index (knowledge_fts, knowledge_vec*_<dim>)
are created by the index itself on first write (their shape depends on the embedding
dimension, and they need the sqlite-vec extension loaded on the connection).
"""

import sqlalchemy as sa
from alembic import op

import openmaas.store.tables

revision = '0005_files_knowledge'
down_revision = '0003_accounts'
branch_labels = None
depends_on = None

UTC = openmaas.store.tables.UtcDateTime(timezone=True)
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'files',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('purpose', sa.String(length=32), nullable=False),
        sa.Column('filename', sa.String(length=512), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('content_type', sa.String(length=128), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('blob_key', sa.String(length=255), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_files_account_created', 'files', ['account_id', 'created_at'])

    op.create_table(
        'knowledge_bases',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('embedding_id', sa.Integer(), nullable=True),
        sa.Column('embedding_model', sa.String(length=128), nullable=False),
        sa.Column('dimensions', sa.Integer(), nullable=False),
        sa.Column('customer_identifier', sa.String(length=64), nullable=True),
        sa.Column('background', sa.String(length=16), nullable=True),
        sa.Column('icon', sa.String(length=16), nullable=True),
        sa.Column('bucket_id', sa.String(length=64), nullable=True),
        sa.Column('index_version', sa.Integer(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('updated_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_knowledge_bases_account_id', 'knowledge_bases', ['account_id'])

    op.create_table(
        'knowledge_documents',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('knowledge_id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=512), nullable=False),
        sa.Column('blob_key', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=128), nullable=False),
        sa.Column('length', sa.BigInteger(), nullable=False),
        sa.Column('word_num', sa.Integer(), nullable=False),
        sa.Column('knowledge_type', sa.Integer(), nullable=False),
        sa.Column('sentence_size', sa.Integer(), nullable=True),
        sa.Column('custom_separator', sa.JSON(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('fail_code', sa.Integer(), nullable=True),
        sa.Column('fail_reason', sa.Text(), nullable=True),
        sa.Column('chunk_count', sa.Integer(), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('updated_at', UTC, nullable=False),
        sa.ForeignKeyConstraint(['knowledge_id'], ['knowledge_bases.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_knowledge_documents_account_id', 'knowledge_documents', ['account_id'])
    op.create_index('ix_kdocs_knowledge_created', 'knowledge_documents', ['knowledge_id', 'created_at'])

    op.create_table(
        'knowledge_chunks',
        sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('knowledge_id', sa.String(length=32), nullable=False),
        sa.Column('document_id', sa.String(length=32), nullable=False),
        sa.Column('ordinal', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('terms', sa.Text(), nullable=False),
        sa.Column('embedding', sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_kchunks_knowledge', 'knowledge_chunks', ['knowledge_id'])
    op.create_index('ix_kchunks_document', 'knowledge_chunks', ['document_id'])

    op.create_table(
        'retrieval_traces',
        sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('request_id', sa.String(length=128), nullable=False),
        sa.Column('knowledge_id', sa.String(length=32), nullable=False),
        sa.Column('trace', sa.JSON(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_rtraces_account_request', 'retrieval_traces', ['account_id', 'request_id'])


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        from openmaas.knowledge.sqlite_index import load_sqlite_vec

        load_sqlite_vec(bind.connection.dbapi_connection)  # vec0 tables drop only with it loaded
        tables = [r[0] for r in bind.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type='table' AND sql LIKE 'CREATE VIRTUAL TABLE%' "
            "AND (name = 'knowledge_fts' OR name LIKE 'knowledge_vec%')")]
        for name in tables:
            op.execute(f'DROP TABLE IF EXISTS "{name}"')
    op.drop_table('retrieval_traces')
    op.drop_table('knowledge_chunks')
    op.drop_table('knowledge_documents')
    op.drop_table('knowledge_bases')
    op.drop_table('files')
