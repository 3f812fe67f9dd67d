"""An in-process app per database (SQLite and PostgreSQL) with two tenants."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from openmaas.app import create_app
from tests.conftest import AppHarness, Tenant, add_tenant


@dataclass
class TwoTenants(AppHarness):
    other: Tenant


@pytest.fixture
def db_harness(make_settings, database_url) -> Iterator[TwoTenants]:
    app = create_app(make_settings(database_url=database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        yield TwoTenants(client, services, add_tenant(services), add_tenant(services, "intruder"))
