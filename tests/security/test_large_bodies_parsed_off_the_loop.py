"""Issue 15 (hostile tenant bench): FastAPI parsed every JSON body on the event loop, so a
near-limit body of 100 000 tiny messages (~30 ms of CPU building objects, the GIL held
throughout) stalled everyone's requests, only to be refused by validation afterwards.

Now a large body that holds more JSON objects and arrays than any valid body could is
refused (400, 1214) before it is parsed, and the other large bodies are parsed in a worker
thread; small bodies take the old path."""

from __future__ import annotations

import json

import pytest

from openmaas.api import routing
from openmaas.api.routing import LARGE_BODY_BYTES, MAX_JSON_CONTAINERS

CHAT = "/api/paas/v4/chat/completions"


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The functions the request layer sent to the thread pool."""
    seen: list[str] = []
    original = routing.run_in_threadpool

    async def spying(call, *args):
        seen.append(getattr(call, "__name__", repr(call)))
        return await original(call, *args)

    monkeypatch.setattr(routing, "run_in_threadpool", spying)
    return seen


def post_json(harness, body: dict):
    return harness.client.post(
        CHAT,
        content=json.dumps(body).encode(),
        headers=harness.tenant.headers | {"Content-Type": "application/json"},
    )


def test_a_large_body_is_parsed_in_a_worker_thread(harness, parses):
    harness.fake_engine().context_window = 10**6
    body = {
        "model": "glm-4",
        "max_tokens": 4,
        "messages": [
            {"role": "system", "content": "x" * LARGE_BODY_BYTES},
            {"role": "user", "content": "hi"},
        ],
    }
    response = post_json(harness, body)
    assert response.status_code in (200, 400), response.text  # parsed, then validated either way
    assert parses == ["loads"]


def test_a_small_body_is_parsed_inline(harness, parses):
    response = post_json(
        harness, {"model": "glm-4", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200, response.text
    assert parses == []


def test_a_body_with_too_many_objects_is_refused_before_parsing(harness, parses):
    body = {
        "model": "glm-4",
        "max_tokens": 4,
        "messages": [{"role": "user", "content": "x"}] * (MAX_JSON_CONTAINERS + 1),
    }
    response = post_json(harness, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "1214" and str(MAX_JSON_CONTAINERS) in error["message"]
    assert parses == []  # never parsed


def test_an_upload_is_not_read_by_the_check(harness):
    """Multipart bodies stream to their handler (files): the check reads JSON bodies only."""
    data = b"{" * (MAX_JSON_CONTAINERS + 10)
    response = harness.client.post(
        "/api/paas/v4/files",
        headers=harness.tenant.headers,
        data={"purpose": "batch"},
        files={"file": ("b.jsonl", data)},
    )
    assert response.status_code != 500
    assert "JSON objects and arrays" not in response.text
