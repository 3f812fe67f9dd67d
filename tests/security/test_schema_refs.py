"""Finding 1 of the 2026-12 security review: remote `$ref`/`$dynamicRef` in a caller's schema.

jsonschema ≥ 4.18 fetched unknown references with `urlopen` (no timeout) while validating a
tool call on the event loop: blind SSRF, the whole server frozen by a tarpit, OOM through
`file:///dev/zero`. Now such schemas are refused at the door (1214 naming the field), and the
validator's registry cannot retrieve anything even if one slipped past it.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from openmaas.chat.tools import FunctionTool, parse_tool_calls
from tests.conftest import FAKE_MODEL

ZHIPU = "/api/paas/v4/chat/completions"
CALL_F = '<tool_call>\n{"name": "f", "arguments": {"q": "x"}}\n</tool_call>'


class Tarpit:
    """A TCP port that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/x.json"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def tarpit():
    pit = Tarpit()
    yield pit
    pit.close()


def tool(parameters: dict) -> dict:
    return {"type": "function", "function": {"name": "f", "description": "d", "parameters": parameters}}


def forced_body(parameters: dict) -> dict:
    return {
        "model": "glm-4",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Call f."}],
        "tools": [tool(parameters)],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
    }


def in_thread(function, timeout: float):
    """Run `function` in a daemon thread; (finished, result). A hang does not hang the test."""
    box: dict = {}
    worker = threading.Thread(target=lambda: box.setdefault("result", function()), daemon=True)
    worker.start()
    worker.join(timeout)
    return not worker.is_alive(), box.get("result")


@pytest.mark.parametrize(
    "reference",
    [
        {"$dynamicRef": "TARPIT"},
        {"$ref": "TARPIT"},
        {"$ref": "file:///dev/zero"},
        {"$dynamicRef": "file:///dev/zero"},
        {"$recursiveRef": "https://example.invalid/s.json"},
        {"$id": "https://example.invalid/root.json"},
    ],
)
def test_remote_references_are_refused_with_1214(harness, tarpit, reference):
    reference = {k: tarpit.url if v == "TARPIT" else v for k, v in reference.items()}
    nested = {"type": "object", "properties": {"q": {"type": "string", **reference}}}
    for parameters in ({"type": "object", "properties": {"q": {"type": "string"}}, **reference}, nested):
        response = harness.client.post(ZHIPU, json=forced_body(parameters), headers=harness.tenant.headers)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "1214" and "tools[0].function.parameters" in error["message"]
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, **reference}
    body = {
        "model": "glm-4",
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    response = harness.client.post(ZHIPU, json=body, headers=harness.tenant.headers)
    assert response.status_code == 400 and response.json()["error"]["code"] == "1214"
    assert "response_format.json_schema.schema" in response.json()["error"]["message"]
    assert tarpit.accepted == []


def test_local_references_still_work(harness):
    parameters = {
        "type": "object",
        "properties": {"q": {"$ref": "#/$defs/query"}},
        "$defs": {"query": {"type": "string"}},
        "required": ["q"],
    }
    harness.fake_engine().enqueue(CALL_F)
    response = harness.client.post(ZHIPU, json=forced_body(parameters), headers=harness.tenant.headers)
    assert response.status_code == 200, response.text
    [call] = response.json()["choices"][0]["message"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"q": "x"}


@pytest.mark.parametrize("target", ["TARPIT", "file:///dev/zero"])
def test_validation_never_fetches_even_past_the_door(tarpit, target):
    """A schema that reached validation without the door's check (e.g. a durable job queued
    before the upgrade) still fetches nothing: the registry cannot retrieve."""
    url = tarpit.url if target == "TARPIT" else target
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "$dynamicRef": url}
    function = FunctionTool("f", "", schema)
    finished, calls = in_thread(lambda: parse_tool_calls(CALL_F, (function,)), timeout=5)
    assert finished, "validation blocked on a remote reference"
    assert tarpit.accepted == [] and calls == []


@pytest.mark.parametrize("target", ["TARPIT", "file:///dev/zero"])
def test_remote_reference_cannot_freeze_the_server(live_server, tarpit, target):
    """The review's recipe: a forced call whose schema points at a tarpit (or at /dev/zero, read
    until the process is killed), then /health."""
    engine = live_server.services.catalog.resolve(FAKE_MODEL).engine
    engine.enqueue(CALL_F, CALL_F)
    url = tarpit.url if target == "TARPIT" else target
    parameters = {"type": "object", "properties": {"q": {"type": "string"}}, "$dynamicRef": url}
    headers = {"Authorization": f"Bearer {live_server.tenant.api_key}"}
    with httpx.Client(base_url=live_server.base_url, timeout=20) as client:
        client.get("/health")  # warm: only the loop's availability is measured below
        chat: dict = {}
        sender = threading.Thread(
            target=lambda: chat.setdefault(
                "response", client.post(ZHIPU, json=forced_body(parameters), headers=headers)
            ),
            daemon=True,
        )
        sender.start()
        time.sleep(0.5)
        started = time.monotonic()
        try:
            health = client.get("/health", timeout=5)
        except httpx.TimeoutException:
            pytest.fail("/health timed out: the event loop is blocked")
        assert health.status_code == 200 and time.monotonic() - started < 3.0  # a busy 2-core CI
        sender.join(10)
    response = chat["response"]
    assert response.status_code == 400 and response.json()["error"]["code"] == "1214"
    assert tarpit.accepted == []
