"""Issue 15 item 1 / finding 1 (leftover): a caller's schema is checked off the event loop at
every door.

`check_user_schema` (meta-schema check and local-reference walk, up to 32 KiB a schema,
~1.5 s under load) ran inside `body.to_chat_request()` on the event loop, so one request with
big schemas stalled every tenant's streams and `/health`. Now every door that builds a chat
request from caller tools or a response format runs it in the thread pool: the check is
recorded here with whether it ran on the loop's thread, for each door.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.chat import schema_guard, structured, tools
from tests.conftest import FAKE_MODEL, add_tenant

BIG_SCHEMA = {
    "type": "object",
    "properties": {
        f"field_{i}": {"type": "string", "description": "x" * 40, "maxLength": 64} for i in range(200)
    },
}
FUNCTION = {"type": "function", "function": {"name": "f", "description": "d", "parameters": BIG_SCHEMA}}
MESSAGES = [{"role": "user", "content": "hi"}]


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def checks(monkeypatch) -> list[bool]:
    """Whether each schema check ran on an event loop thread (True = the loop was blocked)."""
    seen: list[bool] = []

    def recording(schema, field):
        seen.append(_on_loop())
        return schema_guard.check_user_schema(schema, field)

    monkeypatch.setattr(tools, "check_user_schema", recording)
    monkeypatch.setattr(structured, "check_user_schema", recording)
    return seen


@pytest.fixture
def client(make_settings) -> Iterator[tuple[TestClient, dict]]:
    app = create_app(make_settings())
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client, add_tenant(app.state.services).headers


DOORS = {
    "zhipu chat": (
        "/api/paas/v4/chat/completions",
        {"model": FAKE_MODEL, "messages": MESSAGES, "tools": [FUNCTION]},
    ),
    "openai chat, response_format": (
        "/v1/chat/completions",
        {
            "model": FAKE_MODEL,
            "messages": MESSAGES,
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": BIG_SCHEMA}},
        },
    ),
    "async chat": (
        "/api/paas/v4/async/chat/completions",
        {"model": FAKE_MODEL, "messages": MESSAGES, "tools": [FUNCTION]},
    ),
    "responses": (
        "/v1/responses",
        {
            "model": FAKE_MODEL,
            "input": "hi",
            "tools": [{"type": "function", "name": "f", "description": "d", "parameters": BIG_SCHEMA}],
        },
    ),
    "anthropic messages": (
        "/v1/messages",
        {
            "model": FAKE_MODEL,
            "max_tokens": 16,
            "messages": MESSAGES,
            "tools": [{"name": "f", "description": "d", "input_schema": BIG_SCHEMA}],
        },
    ),
    "anthropic count_tokens": (
        "/v1/messages/count_tokens",
        {
            "model": FAKE_MODEL,
            "messages": MESSAGES,
            "tools": [{"name": "f", "description": "d", "input_schema": BIG_SCHEMA}],
        },
    ),
    "tokenizer": ("/api/paas/v4/tokenizer", {"model": FAKE_MODEL, "messages": MESSAGES, "tools": [FUNCTION]}),
    "assistant create": ("/api/paas/v4/assistants", {"model": FAKE_MODEL, "name": "a", "tools": [FUNCTION]}),
}


@pytest.mark.parametrize("door", list(DOORS))
def test_caller_schemas_are_checked_off_the_event_loop(door, client, checks):
    test_client, headers = client
    path, body = DOORS[door]
    key = headers["Authorization"].removeprefix("Bearer ")
    response = test_client.post(path, json=body, headers=headers | {"x-api-key": key})
    assert response.status_code == 200, response.text
    assert checks, f"{door}: the caller's schema was never checked"
    assert not any(checks), f"{door}: the schema check ran on the event loop"
