"""Programmatic Alembic: `openmaas db upgrade`, and `create_app` on start."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run on every start (no-op when current)."""
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def autogenerate(engine: sa.Engine, message: str) -> None:
    """Developer helper: write a new revision from the difference to the ORM tables."""
    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)
