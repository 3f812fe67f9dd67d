"""Persistence: SQLAlchemy engine/session factory, ORM tables and Alembic migrations."""
