"""Alembic environment: runs against the connection handed over by `store.migrate`."""

from alembic import context

from openmaas.store.tables import Base

connection = context.config.attributes["connection"]

# The embedded knowledge index's virtual tables (and their shadow tables) are created at
# run time by knowledge/sqlite_index.py, not by migrations: autogenerate leaves them be.
RUNTIME_TABLE_PREFIXES = ("knowledge_fts", "knowledge_vec")


def include_name(name, type_, parent_names) -> bool:
    return not (type_ == "table" and name and name.startswith(RUNTIME_TABLE_PREFIXES))


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs need batch mode
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
