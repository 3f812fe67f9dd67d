"""The unmodified `anthropic` SDK against /v1/messages of a live server (fake engine)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import pytest
from anthropic import Anthropic

from openmaas.engines.fake import fake_tokenize
from tests.agents.conftest import tool_call_text

WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def claude(agent_server, tenant) -> Iterator[Anthropic]:
    client = Anthropic(api_key=tenant.api_key, base_url=agent_server.base_url, max_retries=0)
    yield client
    client.close()


def test_text(claude, engine):
    engine.enqueue("Hello from the fake engine.")
    message = claude.messages.create(
        model="glm-4", max_tokens=64, system="Be brief.", messages=[{"role": "user", "content": "Say hello"}]
    )
    assert message.type == "message" and message.role == "assistant" and message.model == "glm-4"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello from the fake engine."
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == len(fake_tokenize("Hello from the fake engine."))
    assert message.usage.input_tokens > 0
    assert "Be brief." in engine.prompts[-1].text


def test_max_tokens_stop_reason(claude, engine):
    engine.enqueue("one two three four five six")
    message = claude.messages.create(
        model="glm-4", max_tokens=2, messages=[{"role": "user", "content": "go"}]
    )
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 2


def test_stream(claude, engine):
    engine.enqueue("Streaming, token by token.")
    with claude.messages.stream(
        model="glm-4", max_tokens=64, messages=[{"role": "user", "content": "Stream"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Streaming, token by token."
    assert final.content[0].text == text and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == len(fake_tokenize(text))


def test_raw_stream_event_order(claude, engine):
    engine.enqueue("a b")
    events = list(
        claude.messages.create(
            model="glm-4", max_tokens=16, stream=True, messages=[{"role": "user", "content": "x"}]
        )
    )
    assert [e.type for e in events][0] == "message_start"
    assert [e.type for e in events][-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[-2].delta.stop_reason == "end_turn"


def test_tool_use_round_trip(claude, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Paris"}), "Sunny in Paris.")
    question = {"role": "user", "content": "Weather in Paris?"}
    first = claude.messages.create(model="glm-4", max_tokens=64, tools=[WEATHER], messages=[question])
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    second = claude.messages.create(
        model="glm-4",
        max_tokens=64,
        tools=[WEATHER],
        messages=[
            question,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 24C"}],
            },
        ],
    )
    assert second.content[0].text == "Sunny in Paris." and second.stop_reason == "end_turn"
    assert "sunny, 24C" in engine.prompts[-1].text


def test_tool_use_streamed(claude, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Oslo"}))
    with claude.messages.stream(
        model="glm-4", max_tokens=64, tools=[WEATHER], messages=[{"role": "user", "content": "Oslo?"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "Oslo"}


def test_structured_output(claude, engine):
    engine.enqueue('{"city": "Paris"}')
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    message = claude.messages.create(
        model="glm-4",
        max_tokens=32,
        output_config={"format": {"type": "json_schema", "schema": schema}},
        messages=[{"role": "user", "content": "Capital of France as JSON"}],
    )
    assert json.loads(message.content[0].text) == {"city": "Paris"}
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="glm-4",
            max_tokens=8,
            messages=[{"role": "user", "content": "x"}],
            output_config={"format": {"type": "json_schema", "schema": {"type": 7}}},
        )
    assert "output_config.format.schema" in caught.value.body["error"]["message"]


def test_count_tokens(claude, engine):
    counted = claude.messages.count_tokens(model="glm-4", messages=[{"role": "user", "content": "Say hello"}])
    engine.enqueue("ok")
    message = claude.messages.create(
        model="glm-4", max_tokens=8, messages=[{"role": "user", "content": "Say hello"}]
    )
    assert counted.input_tokens == message.usage.input_tokens


def test_bearer_auth_works_too(agent_server, tenant, engine):
    engine.enqueue("bearer ok")
    client = Anthropic(auth_token=tenant.api_key, base_url=agent_server.base_url, max_retries=0)
    message = client.messages.create(model="glm-4", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert message.content[0].text == "bearer ok"


def test_errors_use_the_anthropic_envelope(agent_server, claude, engine):
    with pytest.raises(anthropic.AuthenticationError):
        Anthropic(api_key="nope.nope", base_url=agent_server.base_url, max_retries=0).messages.create(
            model="glm-4", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    before = engine.generations
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="glm-4",
            max_tokens=8,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x"}],
                }
            ],
        )
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "toolu_nowhere" in caught.value.body["error"]["message"]
    raw = httpx.post(
        f"{agent_server.base_url}/v1/messages",
        headers={"x-api-key": claude.api_key},
        json={
            "model": "glm-4",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}],
        },
    )
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.NotFoundError) as missing:  # Anthropic's own answer: 404
        claude.messages.create(
            model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.body["error"]["type"] == "not_found_error"
    assert engine.generations == before
