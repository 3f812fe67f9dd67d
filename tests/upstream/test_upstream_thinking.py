"""The upstream engine's thinking: reasoning fields and tags in, switch and history out,
image parts forwarded, tool calls written as they arrive (scripted replicas)."""

from __future__ import annotations

import json

import httpx
import pytest

from openmaas.config import ThinkingConfig
from openmaas.engines.base import ChatMessage, Finished, ReasoningDelta, SamplingParams, TextDelta, Thinking
from openmaas.engines.upstream import UpstreamChatEngine
from openmaas.engines.upstream_http import UpstreamTarget

PARAMS = SamplingParams(max_tokens=64)


def sse(*deltas: dict, usage: dict | None = None, finish: str = "stop") -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if usage:
        chunks.append({"choices": [], "usage": usage})
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def engine_with(body: bytes, seen: list, thinking: ThinkingConfig | None) -> UpstreamChatEngine:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    target = UpstreamTarget.build("up", ["http://a.test"], "served", None, {"health_path": None})
    return UpstreamChatEngine(target, transport=httpx.MockTransport(handler), thinking=thinking)


async def run(engine, messages, thinking=None):
    prompt = await engine.prepare(messages, thinking=thinking)
    return [e async for e in engine.generate(prompt, PARAMS, "acct")]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_field_becomes_reasoning_deltas(field):
    seen: list = []
    body = sse(
        {"role": "assistant", "content": ""},
        {field: "think "},
        {field: "more"},
        {"content": "Answer"},
        usage={
            "prompt_tokens": 5,
            "completion_tokens": 9,
            "completion_tokens_details": {"reasoning_tokens": 6},
        },
    )
    events = await run(
        engine_with(body, seen, ThinkingConfig(format="field")),
        [ChatMessage("user", "hi")],
        Thinking(enabled=True, effort="low"),
    )
    assert [type(e) for e in events] == [ReasoningDelta, ReasoningDelta, TextDelta, Finished]
    assert events[-1] == Finished("stop", 5, 9, 6)
    assert (
        seen[0]["chat_template_kwargs"] == {"enable_thinking": True} and seen[0]["reasoning_effort"] == "low"
    )


async def test_tags_in_content_are_split_here():
    seen: list = []
    body = sse({"content": "<thi"}, {"content": "nk>why"}, {"content": " not</think>\n\nbecause"})
    events = await run(
        engine_with(body, seen, ThinkingConfig(format="tags", switch="no_think")),
        [ChatMessage("user", "q")],
        Thinking(enabled=False),
    )
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == ""  # switched off: dropped
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "because"
    assert seen[0]["messages"][-1]["content"] == "q\n/no_think" and "chat_template_kwargs" not in seen[0]
    assert events[-1].reasoning_tokens == 3


async def test_model_without_thinking_forwards_nothing_and_ignores_no_reasoning():
    seen: list = []
    body = sse({"reasoning_content": "an upstream thought anyway"}, {"content": "ok"})
    events = await run(
        engine_with(body, seen, None), [ChatMessage("user", "q")], Thinking(enabled=True, effort="high")
    )
    assert "chat_template_kwargs" not in seen[0] and "reasoning_effort" not in seen[0]
    assert isinstance(events[0], ReasoningDelta)  # what the upstream says it thought is passed on


async def test_history_reasoning_and_image_parts_are_forwarded():
    seen: list = []
    parts = ({"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}})
    messages = [
        ChatMessage("user", "q1"),
        ChatMessage("assistant", "a1", reasoning_content="r1"),
        ChatMessage("user", "look", parts=parts),
    ]
    await run(
        engine_with(sse({"content": "ok"}), seen, ThinkingConfig(format="field", switch="thinking_field")),
        messages,
    )
    sent = seen[0]
    assert sent["messages"][1] == {"role": "assistant", "content": "a1", "reasoning_content": "r1"}
    assert sent["messages"][2]["content"] == list(parts)
    assert sent["thinking"] == {"type": "enabled"}


async def test_tool_calls_are_written_as_they_arrive():
    seen: list = []
    body = sse(
        {"reasoning_content": "use the tool"},
        {
            "tool_calls": [
                {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
        {
            "tool_calls": [
                {"index": 1, "id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}}
            ]
        },
        finish="tool_calls",
    )
    events = await run(engine_with(body, seen, ThinkingConfig(format="field")), [ChatMessage("user", "q")])
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 3  # the first call's pieces came one by one
    joined = "".join(texts)
    assert joined == (
        '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>\n'
        '<tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>'
    )
    assert events[-1].reason == "tool_calls"
