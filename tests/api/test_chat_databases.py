"""In-process chat, usage rows and async jobs on both databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.store.tables import Job, UsageRecord
from tests.conftest import AppHarness, add_tenant

ZHIPU = "/api/paas/v4/chat/completions"
HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def db_harness(make_settings, database_url) -> Iterator[AppHarness]:
    app = create_app(make_settings(database_url=database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        yield AppHarness(client, services, add_tenant(services))


def usage_rows(harness: AppHarness) -> list[UsageRecord]:
    harness.client.portal.call(harness.services.usage.flush)
    with harness.services.db.session() as session:
        return list(session.scalars(sa.select(UsageRecord).order_by(UsageRecord.id)))


def test_backend_is_the_one_asked_for(db_harness, database_url):
    assert db_harness.services.db.engine.dialect.name == (
        "postgresql" if database_url.startswith("postgresql") else "sqlite"
    )


def test_chat_writes_one_usage_row(db_harness):
    db_harness.fake_engine().enqueue("x y z")
    response = db_harness.client.post(
        ZHIPU,
        headers=db_harness.tenant.headers,
        json={"model": "glm-4", "messages": HELLO, "request_id": "r-1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "x y z"
    rows = usage_rows(db_harness)
    assert len(rows) == 1
    row = rows[0]
    assert (row.account_id, row.api_key_id, row.request_id, row.status, row.model) == (
        db_harness.tenant.account_id,
        db_harness.tenant.key_id,
        "r-1",
        "success",
        "glm-4",
    )
    assert row.completion_tokens == 3
    assert row.prompt_tokens == response.json()["usage"]["prompt_tokens"] > 0


def test_stream_writes_one_usage_row(db_harness):
    db_harness.fake_engine().enqueue("one two three four")
    body = {"model": "glm-4", "messages": HELLO, "stream": True, "request_id": "r-stream"}
    with db_harness.client.stream("POST", ZHIPU, json=body, headers=db_harness.tenant.headers) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    last = orjson.loads(lines[-2][6:])
    assert last["usage"]["completion_tokens"] == 4
    rows = usage_rows(db_harness)
    assert [(r.request_id, r.status, r.completion_tokens) for r in rows] == [("r-stream", "success", 4)]


def test_refused_request_writes_no_usage_row(db_harness):
    response = db_harness.client.post(
        ZHIPU, headers=db_harness.tenant.headers, json={"model": "nope", "messages": HELLO}
    )
    assert response.json()["error"]["code"] == "1211"
    assert usage_rows(db_harness) == []


def test_async_job_runs_to_success(db_harness):
    db_harness.fake_engine().enqueue("done in the background")
    headers = db_harness.tenant.headers
    submitted = db_harness.client.post(
        "/api/paas/v4/async/chat/completions", headers=headers, json={"model": "glm-4", "messages": HELLO}
    )
    assert submitted.status_code == 200, submitted.text
    task = submitted.json()
    assert task["task_status"] == "PROCESSING"
    deadline = time.monotonic() + 15
    while True:
        result = db_harness.client.get(f"/api/paas/v4/async-result/{task['id']}", headers=headers).json()
        if result["task_status"] != "PROCESSING" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert result["task_status"] == "SUCCESS", result
    assert result["choices"] == [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "done in the background"},
        }
    ]
    assert result["usage"]["completion_tokens"] == 4
    with db_harness.services.db.session() as session:
        job = session.get(Job, task["id"])
        assert (job.state, job.attempts, job.account_id) == ("succeeded", 1, db_harness.tenant.account_id)
    rows = usage_rows(db_harness)
    assert [(r.endpoint, r.status, r.completion_tokens) for r in rows] == [("async_chat", "success", 4)]


def test_async_result_is_scoped_to_the_account(db_harness):
    headers = db_harness.tenant.headers
    task = db_harness.client.post(
        "/api/paas/v4/async/chat/completions", headers=headers, json={"model": "glm-4", "messages": HELLO}
    ).json()
    other = add_tenant(db_harness.services, "other")
    response = db_harness.client.get(f"/api/paas/v4/async-result/{task['id']}", headers=other.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "1222"
