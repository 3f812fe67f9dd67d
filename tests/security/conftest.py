"""Fixtures of the security regression tests: the account platform (recording notifier,
cheap argon2) and the fake-engine harness come from the suites that own them; a migrated
database per test (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openmaas.store import migrate
from openmaas.store.db import Database
from tests.accounts.conftest import platform, platform_any_db  # noqa: F401  (fixtures)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    migrate.upgrade(database.engine)
    yield database
    database.dispose()
