"""LangChain's agent (`langchain.agents.create_agent`, a LangGraph loop) and ChatOpenAI on the
Responses API (`use_responses_api=True`), as LangChain users build agents on OpenMaaS."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.frameworks.conftest import ONE_LOOP, tool_call_text


class Forecast(BaseModel):
    city: str
    summary: str


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"Sunny and 24C in {city}."


def chat_model(fw_server, surface: str, key: str):
    if surface == "anthropic":
        return ChatAnthropic(
            model="glm-4", base_url=fw_server.base_url, api_key=key, max_retries=0, max_tokens=64
        )
    base = fw_server.zhipu_base if surface == "zhipu" else fw_server.openai_base
    return ChatOpenAI(
        model="glm-4", base_url=base, api_key=key, max_retries=0, use_responses_api=surface == "responses"
    )


@pytest.fixture(params=["openai", "zhipu", "responses", "anthropic"])
def model(request, fw_server, tenant):
    return chat_model(fw_server, request.param, tenant.api_key)


def test_agent_calls_a_tool_then_answers(model, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Paris"}), "It is sunny and 24C in Paris.")
    agent = create_agent(model, tools=[get_weather], system_prompt="You answer weather questions.")
    state = agent.invoke({"messages": [{"role": "user", "content": "Weather in Paris?"}]})
    kinds = [type(m).__name__ for m in state["messages"]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    tool_result = state["messages"][2]
    assert isinstance(tool_result, ToolMessage) and tool_result.content == "Sunny and 24C in Paris."
    assert state["messages"][-1].text == "It is sunny and 24C in Paris."
    assert "Sunny and 24C in Paris." in engine.prompts[-1].text


@ONE_LOOP
async def test_agent_streams_updates(model, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Oslo"}), "Sunny in Oslo.")
    agent = create_agent(model, tools=[get_weather])
    steps = [
        step
        async for step in agent.astream(
            {"messages": [{"role": "user", "content": "Oslo?"}]}, stream_mode="updates"
        )
    ]
    final = [m for step in steps for update in step.values() if update for m in update.get("messages", [])]
    assert isinstance(final[-1], AIMessage) and final[-1].text == "Sunny in Oslo."


def test_agent_structured_response(model, engine):
    """`response_format` on the agent: a tool strategy (the model calls a `Forecast` tool)."""
    engine.enqueue(
        tool_call_text("get_weather", {"city": "Rome"}),
        tool_call_text("Forecast", {"city": "Rome", "summary": "sunny"}),
    )
    agent = create_agent(model, tools=[get_weather], response_format=Forecast)
    state = agent.invoke({"messages": [{"role": "user", "content": "Rome?"}]})
    assert state["structured_response"] == Forecast(city="Rome", summary="sunny")


# --- ChatOpenAI on /v1/responses -------------------------------------------------------------
def responses_model(fw_server, key: str) -> ChatOpenAI:
    return ChatOpenAI(
        model="glm-4", base_url=fw_server.openai_base, api_key=key, max_retries=0, use_responses_api=True
    )


def test_responses_invoke_stream_and_usage(fw_server, tenant, engine):
    engine.enqueue("Hello via responses.", "Streamed via responses.")
    model = responses_model(fw_server, tenant.api_key)
    reply = model.invoke("hi")
    assert reply.text == "Hello via responses."
    assert reply.usage_metadata["input_tokens"] > 0 and reply.usage_metadata["output_tokens"] > 0
    whole = None
    for chunk in model.stream("hi"):
        whole = chunk if whole is None else whole + chunk
    assert whole.text == "Streamed via responses." and whole.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_responses_structured_output(fw_server, tenant, engine, method):
    answer = '{"city": "Rome", "summary": "sunny"}'
    engine.enqueue(
        tool_call_text("Forecast", {"city": "Rome", "summary": "sunny"})
        if method == "function_calling"
        else answer
    )
    model = responses_model(fw_server, tenant.api_key).with_structured_output(Forecast, method=method)
    assert model.invoke("Rome?") == Forecast(city="Rome", summary="sunny")
