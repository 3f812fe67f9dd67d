"""A client that goes away stops generation, and the usage row says so (live uvicorn server)."""

from __future__ import annotations

import httpx
import pytest

from openmaas.engines.fake import fake_tokenize
from tests.sdk._support import usage_rows, wait_for

LONG_ANSWER = " ".join(f"word{i}" for i in range(200))  # 200 tokens: 10 s at 0.05 s/token
SCRIPTED_TOKENS = len(fake_tokenize(LONG_ANSWER))


@pytest.fixture
def slow_engine(live_server):
    engine = live_server.services.catalog.resolve("fake-chat").engine
    engine.token_delay = 0.05
    engine.enqueue(LONG_ANSWER)
    return engine


def body(request_id: str, **extra) -> dict:
    return {
        "model": "glm-4",
        "request_id": request_id,
        "messages": [{"role": "user", "content": "tell me everything"}],
    } | extra


def cancelled_row(live_server, request_id: str):
    def probe():
        rows = usage_rows(live_server.services, request_id=request_id)
        return rows[0] if rows else None

    row = wait_for(probe, timeout=10)
    assert len(usage_rows(live_server.services, request_id=request_id)) == 1
    return row


@pytest.mark.parametrize("path", ["/api/paas/v4/chat/completions", "/v1/chat/completions"])
def test_closing_a_stream_cancels_generation(live_server, slow_engine, path):
    before = slow_engine.cancelled
    client = httpx.Client(base_url=live_server.base_url, headers=live_server.tenant.headers, timeout=10)
    with client, client.stream("POST", path, json=body("gone-stream", stream=True)) as response:
        assert response.status_code == 200
        seen = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen.append(line)
            if len(seen) == 2:
                break
    # leaving the block closed the connection mid-stream
    wait_for(lambda: slow_engine.cancelled > before, timeout=5)
    row = cancelled_row(live_server, "gone-stream")
    assert row.status == "cancelled"
    assert 2 <= row.completion_tokens < SCRIPTED_TOKENS
    assert row.account_id == live_server.tenant.account_id
    assert slow_engine.generations == 1


def test_non_stream_client_timeout_cancels_generation(live_server, slow_engine):
    before = slow_engine.cancelled
    with (
        httpx.Client(
            base_url=live_server.base_url, headers=live_server.tenant.headers, timeout=httpx.Timeout(0.5)
        ) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post("/api/paas/v4/chat/completions", json=body("gone-blocking"))
    wait_for(lambda: slow_engine.cancelled > before, timeout=5)
    row = cancelled_row(live_server, "gone-blocking")
    assert row.status == "cancelled"
    assert row.completion_tokens < SCRIPTED_TOKENS


def test_finished_stream_is_not_counted_as_cancelled(live_server):
    engine = live_server.services.catalog.resolve("fake-chat").engine
    engine.token_delay = 0.01
    engine.enqueue("short and complete")
    with (
        httpx.Client(base_url=live_server.base_url, headers=live_server.tenant.headers, timeout=10) as client,
        client.stream(
            "POST", "/api/paas/v4/chat/completions", json=body("complete-stream", stream=True)
        ) as response,
    ):
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    row = cancelled_row(live_server, "complete-stream")
    assert (row.status, row.completion_tokens) == ("success", 3)
    assert engine.cancelled == 0


def test_other_requests_proceed_while_one_stream_is_abandoned(live_server, slow_engine):
    with httpx.Client(
        base_url=live_server.base_url, headers=live_server.tenant.headers, timeout=10
    ) as client:
        with client.stream(
            "POST", "/api/paas/v4/chat/completions", json=body("abandoned", stream=True)
        ) as response:
            next(response.iter_lines())
        slow_engine.token_delay = 0.0
        slow_engine.enqueue("quick reply")
        reply = client.post("/api/paas/v4/chat/completions", json=body("after"))
    assert reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["content"] == "quick reply"
