"""Property-based fuzzing of the agent surfaces from the app's own OpenAPI schema: no input
(schema-valid or not, with items, blocks and tools of any shape) yields a 5xx, and every
refusal carries its surface's own error envelope."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
OPERATIONS = [
    "/v1/responses",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/api/paas/v4/assistant",
    "/api/paas/v4/assistants",
]
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
ITEM_LIKE = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "message",
                "function_call",
                "function_call_output",
                "reasoning",
                "tool_use",
                "tool_result",
                "text",
                "mcp",
                "file_search",
                "function",
                "bogus",
            ]
        )
    },
    optional={
        "role": st.sampled_from(["user", "assistant"]),
        "content": ANY_JSON,
        "call_id": ANY_JSON,
        "arguments": ANY_JSON,
        "id": ANY_JSON,
    },
)


@pytest.fixture(scope="module")
def schema(agent_server):
    return schemathesis.openapi.from_url(f"{agent_server.base_url}/openapi.json")


def envelope_ok(path: str, body: dict) -> bool:
    if path.startswith("/v1/messages"):
        return body["type"] == "error" and bool(body["error"]["type"]) and bool(body["error"]["message"])
    return body["error"]["code"].isdigit() and bool(body["error"]["message"])


@pytest.mark.parametrize("mode", [POSITIVE, NEGATIVE])
@pytest.mark.parametrize("path", OPERATIONS)
def test_no_server_errors(agent_server, schema, path, mode):
    operation = schema[path]["POST"]
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode), items=st.lists(ITEM_LIKE, max_size=3))
    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case, items) -> None:
        if mode is POSITIVE and isinstance(case.body, dict) and items:
            key = "input" if path == "/v1/responses" else ("tools" if "assistants" in path else "messages")
            case.body = case.body | {"model": "glm-4", key: items}
        response = case.call(base_url=agent_server.base_url, headers=agent_server.tenant.headers, timeout=30)
        seen.append(response.status_code)
        assert response.status_code < 500, (case.body, response.text[:500])
        if response.status_code >= 400:
            assert envelope_ok(path, response.json()), response.text

    check()
    assert seen
    if mode is NEGATIVE:
        assert any(400 <= status < 500 for status in seen), seen
