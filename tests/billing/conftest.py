"""The billing service on a migrated, seeded database: SQLite and PostgreSQL (`database_url`)."""

from __future__ import annotations

import pytest

from openmaas.billing.service import BillingService
from openmaas.config import BillingConfig
from openmaas.store import migrate
from openmaas.store.db import Database


@pytest.fixture
def billing(database_url):
    db = Database(database_url)
    migrate.upgrade(db.engine)
    service = BillingService(db, BillingConfig())
    service.seed()
    yield service
    db.dispose()
