"""Knowledge tests: an app per database with two tenants, and API helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from openmaas.app import create_app
from tests.conftest import AppHarness, Tenant, add_tenant

BASE = "/api/paas/v4"


@dataclass
class KnowledgeHarness(AppHarness):
    other: Tenant

    def call(self, method: str, path: str, tenant: Tenant | None = None, **kwargs):
        return self.client.request(method, BASE + path, headers=(tenant or self.tenant).headers, **kwargs)

    def create_kb(self, name: str = "docs", tenant: Tenant | None = None, **fields) -> str:
        response = self.call("POST", "/knowledge", tenant, json={"embedding_id": 3, "name": name} | fields)
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def upload(
        self, kb_id: str, files: list[tuple[str, bytes]], tenant: Tenant | None = None, **form
    ) -> dict:
        response = self.call(
            "POST",
            "/files",
            tenant,
            data={"purpose": "retrieval", "knowledge_id": kb_id} | form,
            files=[("file", f) for f in files],
        )
        assert response.status_code == 200, response.text
        return response.json()

    def wait_done(self, document_id: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            data = self.call("GET", f"/document/{document_id}").json()
            if data["embedding_stat"] != 0:
                return data
            assert time.monotonic() < deadline, f"document {document_id} still {data['status']}"
            time.sleep(0.05)

    def ingest(self, kb_id: str, name: str, data: bytes, **form) -> dict:
        result = self.upload(kb_id, [(name, data)], **form)
        assert result["failedInfos"] == [], result
        return self.wait_done(result["successInfos"][0]["documentId"])

    def retrieve(self, kb_id: str, query: str, **body) -> list[dict]:
        response = self.call(
            "POST", "/knowledge/retrieve", json={"knowledge_ids": [kb_id], "query": query} | body
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]


@pytest.fixture
def kh(make_settings, database_url) -> Iterator[KnowledgeHarness]:
    app = create_app(make_settings(database_url=database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        yield KnowledgeHarness(client, services, add_tenant(services), add_tenant(services, "intruder"))
