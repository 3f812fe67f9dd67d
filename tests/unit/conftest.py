"""A migrated database per test, on SQLite and PostgreSQL (`database_url`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openmaas.store import migrate
from openmaas.store.db import Database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    migrate.upgrade(database.engine)
    yield database
    database.dispose()
