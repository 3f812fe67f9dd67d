"""Finding 17 of the 2026-12 security review: ReDoS through a tool schema's `pattern`.

Validation used Python's `re.search(user_pattern, model_output)` on the event loop, so a
pattern with nested quantifiers against a string the caller makes the model echo pinned a
CPU and froze every tenant. Now patterns run on the `regex` module under a timeout (a timeout
is a failed match) and validation runs in a thread.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from openmaas.chat.tools import FunctionTool, parse_tool_calls
from tests.conftest import FAKE_MODEL
from tests.security.test_schema_refs import ZHIPU, in_thread

EVIL = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a|a)+$"}}, "required": ["s"]}
NESTED = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+b$"}}}
PAYLOAD = "a" * 25 + "!"  # Python's `re` backtracks here for ~10 s (it was 2^n steps); not forever


def call(arguments: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": "f", "arguments": arguments}) + "\n</tool_call>"


@pytest.mark.parametrize("schema", [EVIL, NESTED])
def test_pathological_pattern_is_a_fast_failed_match(schema):
    function = (FunctionTool("f", "", schema),)
    started = time.monotonic()
    finished, calls = in_thread(lambda: parse_tool_calls(call({"s": PAYLOAD}), function), timeout=5)
    assert finished and time.monotonic() - started < 2.0, "pattern evaluation hung"
    assert calls == []


def test_many_pathological_patterns_share_one_time_budget():
    """Forty evil patterns in one schema: the validation of one call stops at its budget."""
    schema = {
        "type": "object",
        "properties": {f"s{i}": {"type": "string", "pattern": "^(a|a)+$"} for i in range(40)},
    }
    function = (FunctionTool("f", "", schema),)
    started = time.monotonic()
    finished, calls = in_thread(
        lambda: parse_tool_calls(call({f"s{i}": PAYLOAD for i in range(40)}), function), timeout=10
    )
    assert finished and time.monotonic() - started < 4.0 and calls == []


def test_pattern_properties_and_additional_properties_are_bounded_too():
    """Property names are matched against `patternProperties` (also by `additionalProperties`)."""
    schema = {
        "type": "object",
        "patternProperties": {"^(a|a)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    function = (FunctionTool("f", "", schema),)
    started = time.monotonic()
    finished, calls = in_thread(lambda: parse_tool_calls(call({PAYLOAD: 1}), function), timeout=5)
    assert finished and time.monotonic() - started < 2.0 and calls == []


def test_good_patterns_still_validate():
    schema = {"type": "object", "properties": {"d": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}}}
    function = (FunctionTool("f", "", schema),)
    assert len(parse_tool_calls(call({"d": "2026-12-07"}), function)) == 1
    assert parse_tool_calls(call({"d": "7 Dec"}), function) == []


def test_redos_call_does_not_freeze_the_server(live_server):
    """The review's recipe: the model echoes a string the pattern backtracks on; /health stays
    fast and the request ends (the call fails validation, so the answer is text)."""
    engine = live_server.services.catalog.resolve(FAKE_MODEL).engine
    engine.enqueue(call({"s": PAYLOAD}), call({"s": PAYLOAD}))
    body = {
        "model": "glm-4",
        "max_tokens": 96,
        "messages": [{"role": "user", "content": "Call f."}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": EVIL}}],
    }
    headers = {"Authorization": f"Bearer {live_server.tenant.api_key}"}
    with httpx.Client(base_url=live_server.base_url, timeout=30) as client:
        client.get("/health")  # warm: only the loop's availability is measured below
        chat: dict = {}
        sender = threading.Thread(
            target=lambda: chat.setdefault("response", client.post(ZHIPU, json=body, headers=headers)),
            daemon=True,
        )
        started = time.monotonic()
        sender.start()
        time.sleep(0.3)
        try:
            health = client.get("/health", timeout=5)
        except httpx.TimeoutException:
            pytest.fail("/health timed out: the event loop is blocked")
        assert health.status_code == 200
        sender.join(10)
        assert not sender.is_alive() and time.monotonic() - started < 10
    assert chat["response"].status_code == 200
    assert chat["response"].json()["choices"][0]["finish_reason"] != "tool_calls"
