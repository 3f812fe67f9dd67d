"""langchain-anthropic (ChatAnthropic) against /v1/messages, unmodified but for `base_url`."""

from __future__ import annotations

import json

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.exceptions import ContextOverflowError
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from tests.frameworks.conftest import ONE_LOOP, TOO_LONG, tool_call_text


class City(BaseModel):
    """A city and its country."""

    city: str
    country: str


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"Sunny and 24C in {city}."


def claude(fw_server, key: str, **kwargs) -> ChatAnthropic:
    return ChatAnthropic(
        model="glm-4", base_url=fw_server.base_url, api_key=key, max_retries=0, max_tokens=64, **kwargs
    )


def test_invoke_and_usage(fw_server, tenant, engine):
    engine.enqueue("Hello there.")
    reply = claude(fw_server, tenant.api_key).invoke("Say hello")
    assert reply.content == "Hello there."
    assert reply.usage_metadata["input_tokens"] > 0 and reply.usage_metadata["output_tokens"] > 0
    assert reply.response_metadata["stop_reason"] == "end_turn"


def test_stream(fw_server, tenant, engine):
    engine.enqueue("One two three.")
    chunks = list(claude(fw_server, tenant.api_key).stream("Count"))
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole += chunk
    assert whole.text == "One two three."
    assert whole.usage_metadata["output_tokens"] > 0


@ONE_LOOP
async def test_async(fw_server, tenant, engine):
    engine.enqueue("async one", "async two")
    model = claude(fw_server, tenant.api_key)
    assert (await model.ainvoke("hi")).content == "async one"
    parts = [chunk.text async for chunk in model.astream("hi")]
    assert "".join(parts) == "async two"


def test_tool_round_trip(fw_server, tenant, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Paris"}), "Sunny in Paris.")
    model = claude(fw_server, tenant.api_key).bind_tools([get_weather])
    history = [HumanMessage("Weather in Paris?")]
    asked = model.invoke(history)
    assert [(c["name"], c["args"]) for c in asked.tool_calls] == [("get_weather", {"city": "Paris"})]
    call = asked.tool_calls[0]
    history += [asked, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    answer = model.invoke(history)
    assert answer.text == "Sunny in Paris."
    assert "Sunny and 24C in Paris." in engine.prompts[-1].text


def test_streamed_tool_call(fw_server, tenant, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Oslo"}))
    model = claude(fw_server, tenant.api_key).bind_tools([get_weather], tool_choice="get_weather")
    whole = None
    for chunk in model.stream("Oslo?"):
        whole = chunk if whole is None else whole + chunk
    assert [(c["name"], c["args"]) for c in whole.tool_calls] == [("get_weather", {"city": "Oslo"})]


@pytest.mark.parametrize("method", [None, "function_calling", "json_schema"])
def test_with_structured_output(fw_server, tenant, engine, method):
    answer = {"city": "Paris", "country": "France"}
    engine.enqueue(json.dumps(answer) if method == "json_schema" else tool_call_text("City", answer))
    kwargs = {} if method is None else {"method": method}
    model = claude(fw_server, tenant.api_key).with_structured_output(City, **kwargs)
    assert model.invoke("Paris is in France.") == City(**answer)


def test_context_overflow_is_recognised(fw_server, tenant, engine):
    with pytest.raises(ContextOverflowError):
        claude(fw_server, tenant.api_key).invoke(TOO_LONG)


def test_bad_key_is_authentication_error(fw_server, engine):
    with pytest.raises(anthropic.AuthenticationError):
        claude(fw_server, "not-a-key.secret").invoke("hi")
