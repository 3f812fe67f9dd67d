"""The billing service on a migrated, seeded database: SQLite and PostgreSQL (`database_url`)."""

from __future__ import annotations

import pytest

from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
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


@pytest.fixture
def paying(harness) -> tuple[str, dict[str, str]]:
    """An account with cash only (no grant pack), so every charge shows as cost_micro:
    (account id, its inference key's headers)."""
    services = harness.services
    with services.db.session() as session:
        account = create_account(session, "cash-only")
        key = issue_key(session, services.sealer, account.id, "k")
    services.billing.admin_credit("admin", account.id, 10_000_000, "funds")
    return account.id, {"Authorization": f"Bearer {key.api_key}"}
