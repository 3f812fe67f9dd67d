"""The agent tables on both databases (SQLite and PostgreSQL): stored responses and their
chains, assistants and their conversations, MCP call traces, all scoped to the account."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.agents.tool_trace import TraceKey
from openmaas.app import create_app
from openmaas.store.tables import AgentConversation, StoredResponse
from tests.conftest import AppHarness, add_tenant


@pytest.fixture
def db_harness(make_settings, database_url) -> Iterator[AppHarness]:
    app = create_app(make_settings(database_url=database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        yield AppHarness(client, services, add_tenant(services))


def post(harness: AppHarness, path: str, body: dict, headers: dict | None = None):
    return harness.client.post(path, json=body, headers=headers or harness.tenant.headers)


def test_responses_chain_and_tenancy(db_harness):
    engine = db_harness.fake_engine()
    engine.enqueue("first answer", "second answer")
    first = post(db_harness, "/v1/responses", {"model": "glm-4", "input": "one", "metadata": {"k": "v"}})
    assert first.status_code == 200, first.text
    second = post(
        db_harness,
        "/v1/responses",
        {"model": "glm-4", "input": "two", "previous_response_id": first.json()["id"]},
    )
    assert second.status_code == 200, second.text
    assert "first answer" in engine.prompts[-1].text
    db_harness.client.portal.call(db_harness.services.agents.responses.store.flush)
    with db_harness.services.db.session() as session:
        rows = session.scalars(sa.select(StoredResponse).order_by(StoredResponse.created_at)).all()
        assert [r.previous_response_id for r in rows] == [None, first.json()["id"]]
        assert rows[0].body["metadata"] == {"k": "v"}
    other = add_tenant(db_harness.services, "other")
    got = db_harness.client.get(f"/v1/responses/{first.json()['id']}", headers=other.headers)
    assert got.status_code == 404 and got.json()["error"]["type"] == "not_found_error"
    deleted = db_harness.client.delete(
        f"/v1/responses/{first.json()['id']}", headers=db_harness.tenant.headers
    )
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    third = post(
        db_harness,
        "/v1/responses",
        {"model": "glm-4", "input": "three", "previous_response_id": second.json()["id"]},
    )
    assert third.status_code == 200  # a deleted older link ends the chain, it does not break it


def test_assistant_conversation_rows(db_harness):
    created = post(
        db_harness, "/api/paas/v4/assistants", {"name": "a", "model": "glm-4", "instructions": "hi"}
    )
    assert created.status_code == 200, created.text
    engine = db_harness.fake_engine()
    engine.enqueue("one", "two")
    body = {"assistant_id": created.json()["id"], "messages": [{"role": "user", "content": "x"}]}
    first = post(db_harness, "/api/paas/v4/assistant", body).json()
    post(db_harness, "/api/paas/v4/assistant", body | {"conversation_id": first["conversation_id"]})
    with db_harness.services.db.session() as session:
        row = session.get(AgentConversation, first["conversation_id"])
        assert [m["content"] for m in row.messages] == ["x", "one", "x", "two"]
        assert row.account_id == db_harness.tenant.account_id and row.completion_tokens > 0
    unknown = post(db_harness, "/api/paas/v4/assistant", body | {"conversation_id": "conv_nowhere"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "1222"


def test_mcp_call_trace_rows(db_harness):
    """The request's MCP call trace (agents/tool_trace.py) written and read back on each database."""
    tenant = db_harness.tenant
    item = {
        "server_label": "inventory",
        "name": "stock_level",
        "arguments": '{"sku": "P1"}',
        "output": "P1: 42 in stock",
        "error": None,
    }
    traces = db_harness.services.agents.rounds.traces
    asyncio.run(traces.record(TraceKey(tenant.account_id, "req-db-1", "chat"), item, 12))
    asyncio.run(
        traces.record(
            TraceKey(tenant.account_id, "req-db-1", "chat"),
            item | {"output": None, "error": "RuntimeError: down"},
            3,
        )
    )
    detail = db_harness.client.get("/console/api/activity/traces/req-db-1", headers=tenant.headers)
    assert detail.status_code == 200, detail.text
    calls = detail.json()["mcp_calls"]
    assert [(c["output"], c["error"], c["duration_ms"]) for c in calls] == [
        ("P1: 42 in stock", None, 12),
        (None, "RuntimeError: down", 3),
    ]
    other = add_tenant(db_harness.services, "trace-intruder")
    assert (
        db_harness.client.get("/console/api/activity/traces/req-db-1", headers=other.headers).status_code
        == 404
    )
