"""Batch test helpers: JSONL builders, an in-process client per database, two tenants."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.config import Settings
from openmaas.services import Services
from openmaas.store.tables import Batch, BatchResult, Job, UsageRecord
from tests.conftest import AppHarness, Tenant, add_tenant, fake_embeddings, fake_models, with_fake_prices

ZHIPU = "/api/paas/v4"
OPENAI = "/v1"
TERMINAL = ("completed", "failed", "expired", "cancelled")


def chat_line(
    custom_id: str, text: str = "hello", url: str = "/v4/chat/completions", model: str = "glm-4", **body: Any
) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": url,
        "body": {"model": model, "messages": [{"role": "user", "content": text}], **body},
    }


def jsonl(lines: list[Any]) -> bytes:
    return b"\n".join(line if isinstance(line, bytes) else orjson.dumps(line) for line in lines) + b"\n"


def parse_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def cash_only_tenant(services: Services, micro: int = 0, name: str = "cash-only") -> Tenant:
    """An account with no free grant: every charge comes out of `micro` µ元 of cash."""
    with services.db.session() as session:
        account = create_account(session, name)
        key = issue_key(session, services.sealer, account.id, "test")
    if micro:
        services.billing.admin_credit("admin", account.id, micro, "test funds")
    return Tenant(account.id, key.id, key.api_key)


def table_counts(services: Services) -> tuple[int, int, int]:
    """(batches, batch jobs, batch result rows)."""
    with services.db.session() as session:
        return (
            session.scalar(sa.select(sa.func.count()).select_from(Batch)),
            session.scalar(sa.select(sa.func.count()).where(Job.kind == "batch")),
            session.scalar(sa.select(sa.func.count()).select_from(BatchResult)),
        )


@dataclass
class BatchHarness(AppHarness):
    other: Tenant

    def call(self, method: str, path: str, tenant: Tenant | None = None, prefix: str = ZHIPU, **kwargs):
        headers = (tenant or self.tenant).headers
        return self.client.request(method, prefix + path, headers=headers, **kwargs)

    def upload(
        self, data: bytes, purpose: str = "batch", tenant: Tenant | None = None, filename: str = "input.jsonl"
    ) -> str:
        response = self.call(
            "POST", "/files", tenant, files={"file": (filename, data)}, data={"purpose": purpose}
        )
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def create(
        self,
        file_id: str,
        endpoint: str = "/v4/chat/completions",
        tenant: Tenant | None = None,
        prefix: str = ZHIPU,
        **fields: Any,
    ):
        body = {"input_file_id": file_id, "endpoint": endpoint, "completion_window": None} | fields
        return self.call("POST", "/batches", tenant, prefix, json=body)

    def submit(self, lines: list[Any], tenant: Tenant | None = None, **fields: Any) -> dict:
        response = self.create(self.upload(jsonl(lines), tenant=tenant), tenant=tenant, **fields)
        assert response.status_code == 200, response.text
        return response.json()

    def wait(
        self, batch_id: str, tenant: Tenant | None = None, until=TERMINAL, timeout: float = 15.0
    ) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            batch = self.call("GET", f"/batches/{batch_id}", tenant).json()
            if batch["status"] in until:
                return batch
            assert time.monotonic() < deadline, f"batch stuck in {batch['status']}: {batch}"
            time.sleep(0.03)

    def content(self, file_id: str | None, tenant: Tenant | None = None) -> list[dict]:
        if file_id is None:
            return []
        response = self.call("GET", f"/files/{file_id}/content", tenant)
        assert response.status_code == 200, response.text
        return parse_jsonl(response.content)

    def usage(self, **where: str) -> list[UsageRecord]:
        self.client.portal.call(self.services.usage.flush)
        with self.services.db.session() as session:
            return list(session.scalars(sa.select(UsageRecord).filter_by(**where).order_by(UsageRecord.id)))


def batch_harness(settings) -> Iterator[BatchHarness]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        yield BatchHarness(client, services, add_tenant(services), add_tenant(services, "intruder"))


@pytest.fixture
def bh(make_settings) -> Iterator[BatchHarness]:
    """In-process app on SQLite with two tenants."""
    yield from batch_harness(make_settings())


@pytest.fixture
def db_bh(make_settings, database_url) -> Iterator[BatchHarness]:
    """The same, once per database (SQLite and PostgreSQL)."""
    yield from batch_harness(make_settings(database_url=database_url))


@pytest.fixture(scope="module")
def module_bh(tmp_path_factory) -> Iterator[BatchHarness]:
    """One SQLite app for a whole module (for tests that leave nothing behind)."""
    data = tmp_path_factory.mktemp("batches")
    yield from batch_harness(
        with_fake_prices(
            Settings(
                environment="test",
                data_dir=data / "data",
                database_url=f"sqlite:///{data / 'openmaas.db'}",
                models=fake_models(),
                embeddings=fake_embeddings(),
                job_poll_seconds=0.05,
                secret_key="test-secret",
            )
        )
    )
